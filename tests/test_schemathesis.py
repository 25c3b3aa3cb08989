"""Property-based API testing of the example app against its own OpenAPI document.

schemathesis generates valid and invalid requests from /openapi.json; every response must be
documented, conform to its schema, and never be a 5xx.
"""

import schemathesis
from hypothesis import HealthCheck, settings

from examples.tour.app import app

schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path="/events")


@schema.parametrize()
@settings(max_examples=25, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case):
    case.call_and_validate()

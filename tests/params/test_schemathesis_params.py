"""schemathesis, positive and negative, against constrained optional parameters: every request
the document allows is accepted, every one it forbids is refused with a 4xx, none gets a 5xx.

A nullable schema (``anyOf: [..., {"type": "null"}]``) fails here: schemathesis sends ``null``,
which a query string or header can only carry as the text "null", and the app rightly refuses
it as an integer.
"""

from typing import Annotated

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from bastion import App, Cookie, Header, Query, Settings

app = App(settings=Settings(profile="test"))


@app.get("/search")
async def search(
    q: Annotated[str | None, Query(max_length=10)] = None,
    n: Annotated[int | None, Query(ge=1, le=50)] = None,
    ids: Annotated[list[int] | None, Query(ge=1, max_length=3)] = None,
    x_page: Annotated[int | None, Header(ge=1)] = None,
    theme: Annotated[str | None, Cookie(pattern="^[a-z]+$", max_length=8)] = None,
) -> dict:
    return {}


schema = schemathesis.openapi.from_asgi("/openapi.json", app)
schema.config.generation.update(modes=list(schemathesis.GenerationMode))


@schema.parametrize()
@settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_constrained_optional_parameters_conform_to_their_schema(case):
    case.call_and_validate(
        checks=[
            checks.not_a_server_error,
            checks.positive_data_acceptance,
            checks.negative_data_rejection,
        ]
    )

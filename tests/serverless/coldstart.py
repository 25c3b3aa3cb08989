"""Cold start of the Conduit app as a Lambda: importing Bastion, importing and building the app, first request (lifespan
included) and one warm request, timed in this fresh process and printed as JSON.

    BASTION_DATABASE_URL=sqlite+aiosqlite:///conduit.db python tests/serverless/coldstart.py
"""

from __future__ import annotations

import time

started = time.perf_counter()

import json  # noqa: E402
from pathlib import Path  # noqa: E402

from bastion.serverless import lambda_handler  # noqa: E402

imported = time.perf_counter()
# What `bastion deploy lambda`'s handler module does: the module builds its app at import.
from examples.conduit.app import app  # noqa: E402

handler = lambda_handler(app)
built = time.perf_counter()

event = json.loads((Path(__file__).parent / "events" / "http_v2.json").read_text())
event.update(rawPath="/api/tags", rawQueryString="", body="", cookies=[])
event["requestContext"]["http"]["method"] = "GET"
first = handler(event, None)
answered = time.perf_counter()
warm = handler(event, None)
again = time.perf_counter()
handler.close()

print(
    json.dumps(
        {
            "status": [first["statusCode"], warm["statusCode"]],
            "body": first["body"],
            "import_bastion_ms": round((imported - started) * 1000, 1),
            "import_and_build_app_ms": round((built - imported) * 1000, 1),
            "first_request_ms": round((answered - built) * 1000, 1),
            "warm_request_ms": round((again - answered) * 1000, 2),
            "cold_total_ms": round((answered - started) * 1000, 1),
        }
    )
)

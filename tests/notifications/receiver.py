"""A webhook receiver, run by the tests as a real uvicorn process of its own:

    WEBHOOK_SECRET=... FAIL_FIRST=2 python -m uvicorn --factory tests.notifications.receiver:create_app

``POST /hook`` answers 503 to its first ``FAIL_FIRST`` requests (a receiver that is down),
then checks each delivery with ``verify_webhook`` (a 400 when it does not verify) and keeps
it; ``GET /received`` says how many requests came and what was accepted.
"""

from __future__ import annotations

import os
from typing import Any

from bastion import App, Request, Response, Settings
from bastion.notifications import ID_HEADER, verify_webhook


def create_app() -> App[Any]:
    secret = os.environ["WEBHOOK_SECRET"]
    fail_first = int(os.environ.get("FAIL_FIRST", "0"))
    app: App[Any] = App(settings=Settings(profile="test"))
    attempts: list[str | None] = []
    accepted: list[dict[str, Any]] = []

    @app.post("/hook", status_code=200)
    async def hook(request: Request) -> Any:
        attempts.append(request.headers.get(ID_HEADER))
        if len(attempts) <= fail_first:
            return Response(b"down for maintenance", 503)
        event = verify_webhook(secret, request.headers, await request.body())
        accepted.append({"event": event, "id": request.headers.get(ID_HEADER)})
        return {"ok": True}

    @app.get("/received")
    async def received() -> dict[str, Any]:
        return {"attempts": attempts, "accepted": accepted}

    return app

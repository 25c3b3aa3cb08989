"""One worker process of ``bastion serve``: uvicorn on the socket the supervisor passed in.

On SIGTERM (or SIGINT) the worker marks the app as draining at once, so ``/health/ready``
answers 503, keeps serving for ``drain_delay`` seconds while load balancers notice, then
stops accepting and gives in-flight requests ``timeout_graceful_shutdown`` seconds. A second
SIGINT skips the wait. If the supervisor dies, the worker drains and exits too.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from types import FrameType
from typing import Any

import uvicorn

from bastion.cli import _logging
from bastion.cli.loading import load_app


class Worker(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: Any, drain_delay: float) -> None:
        super().__init__(config)
        self.app = app
        self.drain_delay = drain_delay
        self.drain_until: float | None = None
        self.parent = os.getppid()
        self.interrupted = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Not uvicorn's: that one re-raises the signal at the end, so the exit code would
        # say "killed" after a clean drain.
        if sig == signal.SIGINT:
            if self.interrupted:
                self.force_exit = True
            self.interrupted = True
        self.begin_drain()

    def begin_drain(self) -> None:
        self.app.draining = True
        if self.drain_until is None:
            self.drain_until = time.monotonic() + self.drain_delay

    async def on_tick(self, counter: int) -> bool:
        if counter % 10 == 0 and os.getppid() != self.parent:
            self.begin_drain()  # the supervisor is gone: nobody would restart or stop us
        if self.drain_until is not None and time.monotonic() >= self.drain_until:
            self.should_exit = True
        return bool(await super().on_tick(counter))


def main(argv: list[str]) -> None:
    options = json.loads(argv[0])
    sock = socket.socket(fileno=options["fd"])
    app = load_app(options["target"])
    _logging.configure(app)
    config = uvicorn.Config(
        app,
        lifespan="on",
        proxy_headers=options["proxy_headers"],
        timeout_graceful_shutdown=options["timeout_graceful_shutdown"],
        log_level=app.settings.log_level,
        **_logging.uvicorn_options(app, options["access_log"]),
    )
    Worker(config, app, options["drain_delay"]).run(sockets=[sock])


if __name__ == "__main__":
    main(sys.argv[1:])

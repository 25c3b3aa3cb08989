"""What every app of benchmarks/realtime/run shares: the broadcast clock and its trigger.

``wrap(app, broadcast)`` answers ``GET /ping`` (the runner's start-up probe) and
``POST /fire?count=M&interval=S``: M broadcasts, one every S seconds on a fixed schedule
(a broadcast that overruns its slot is followed at once by the next), each of the ~200-byte
payload ``{"n", "t", "pad"}`` where ``t`` is the wall clock in ms when the broadcast began;
the Node clients subtract it from their own wall clock on receipt. Everything else goes to
the framework's app. ``lifespan=False`` answers the lifespan protocol for apps that have none.
"""

import asyncio
import time
from urllib.parse import parse_qs

TOPIC = "bench:fanout"
GROUP = "fanout"  # Django Channels' group names allow no colon
PAD = "x" * 150
_tasks = set()


def payload(n):
    return {"n": n, "t": time.time() * 1000, "pad": PAD}


async def _fire(broadcast, count, interval):
    start = time.perf_counter()
    for n in range(count):
        delay = start + n * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await broadcast(payload(n))


async def _answer(send, status, body):
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def wrap(app, broadcast, lifespan=True):
    async def outer(scope, receive, send):
        kind = scope["type"]
        if kind == "http":
            if scope["path"] == "/fire":
                query = parse_qs(scope["query_string"].decode())
                count = int(query.get("count", ["50"])[0])
                interval = float(query.get("interval", ["0.1"])[0])
                task = asyncio.get_running_loop().create_task(_fire(broadcast, count, interval))
                _tasks.add(task)
                task.add_done_callback(_tasks.discard)
                return await _answer(send, 202, b"firing")
            if scope["path"] == "/ping":
                return await _answer(send, 200, b"pong")
            return await _answer(send, 404, b"not found")
        if kind == "lifespan" and not lifespan:
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return None
        return await app(scope, receive, send)

    return outer

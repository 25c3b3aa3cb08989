"""The ceiling: a hand-written ASGI callable on an asyncpg pool, no framework, no ORM."""

import json
from urllib.parse import parse_qs

import asyncpg
import jinja2

from ._common import ADDED_FORTUNE, DSN, POOL_SIZE, TEMPLATES, new_number, query_count, random_ids

JSON = [(b"content-type", b"application/json")]
HTML = [(b"content-type", b"text/html; charset=utf-8")]
FORTUNES = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True
                              ).get_template("fortunes.html")
SELECT = "SELECT id, randomnumber FROM world WHERE id = $1"
UPDATE = "UPDATE world SET randomnumber = $1 WHERE id = $2"
pool: asyncpg.Pool | None = None


async def respond(send, headers, body):
    await send({"type": "http.response.start", "status": 200,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def queries_param(scope):
    return query_count(parse_qs(scope["query_string"].decode()).get("queries", [None])[0])


async def single(scope):
    async with pool.acquire() as db:
        row = await db.fetchrow(SELECT, random_ids(1)[0])
    return JSON, json.dumps({"id": row[0], "randomNumber": row[1]}).encode()


async def many(scope):
    async with pool.acquire() as db:
        rows = [await db.fetchrow(SELECT, i) for i in random_ids(queries_param(scope))]
    return JSON, json.dumps([{"id": r[0], "randomNumber": r[1]} for r in rows]).encode()


async def updates(scope):
    async with pool.acquire() as db:
        worlds = [{"id": i, "randomNumber": (await db.fetchrow(SELECT, i))[1]}
                  for i in random_ids(queries_param(scope))]
        for world in worlds:
            world["randomNumber"] = new_number()
        await db.executemany(UPDATE, [(w["randomNumber"], w["id"]) for w in worlds])
    return JSON, json.dumps(worlds).encode()


async def fortunes(scope):
    async with pool.acquire() as db:
        rows = [(r[0], r[1]) for r in await db.fetch("SELECT id, message FROM fortune")]
    rows.append((0, ADDED_FORTUNE))
    rows.sort(key=lambda row: row[1])
    body = FORTUNES.render(fortunes=[{"id": i, "message": m} for i, m in rows]).encode()
    return HTML, body


async def plaintext(scope):
    return [(b"content-type", b"text/plain")], b"Hello, World!"


ROUTES = {"/db": single, "/queries": many, "/updates": updates, "/fortunes-db": fortunes,
          "/plaintext": plaintext}


async def app(scope, receive, send):
    global pool
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                pool = await asyncpg.create_pool(DSN, min_size=POOL_SIZE, max_size=POOL_SIZE)
                await send({"type": "lifespan.startup.complete"})
            else:
                await pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    handler = ROUTES.get(scope["path"])
    if handler is None:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    await respond(send, *await handler(scope))

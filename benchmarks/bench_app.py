"""The shared benchmark workload (../shared/bench/SPEC.md) written as idiomatic Bastion."""

import os
import time
from pathlib import Path
from typing import Annotated, NamedTuple
from uuid import uuid4

import msgspec

from bastion import App, Query, Request, Response, Settings
from bastion.middleware.cors import CORS
from bastion.templates import Templates

# The database scenarios join when benchmarks/db/run gives a PostgreSQL (BENCH_PG_DSN).
DATABASE = bool(os.environ.get("BENCH_PG_DSN"))
if DATABASE:
    from benchmarks.bench_db import database, prepared

app = App(
    settings=Settings(profile="prod", debug=False, secret_key="bench-" + "x" * 40),
    plugins=[database()] if DATABASE else [],
)
if DATABASE:
    app.include(prepared)
templates = Templates(Path(__file__).parent / "templates")


class Item(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    price: Annotated[float, msgspec.Meta(gt=0)]
    tags: list[str] = []


class CreatedItem(Item, kw_only=True):
    id: int


class Fortune(NamedTuple):
    id: int
    message: str


FORTUNES = [
    Fortune(1, "fortune: No such file or directory"),
    Fortune(2, "A computer scientist is someone who fixes things that aren't broken."),
    Fortune(3, "After enough decimal places, nobody gives a damn."),
    Fortune(4, "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1"),
    Fortune(5, "A computer program does what you tell it to do, not what you want it to do."),
    Fortune(6, "Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen"),
    Fortune(7, "Any program that runs right is obsolete."),
    Fortune(8, "A list is only as strong as its weakest link. — Donald Knuth"),
    Fortune(9, "Feature: A bug with seniority."),
    Fortune(10, "Computers make very fast, very accurate mistakes."),
    Fortune(11, '<script>alert("This should not be displayed in a browser alert box.");</script>'),
    Fortune(12, "フレームワークのベンチマーク"),
]


async def request_id(request: Request, call_next):
    response = await call_next(request)
    response.raw_headers.append((b"x-request-id", uuid4().hex.encode()))
    return response


async def process_time(request: Request, call_next):
    start = time.perf_counter()
    response = await call_next(request)
    response.raw_headers.append((b"x-process-time", str(time.perf_counter() - start).encode()))
    return response


@app.get("/plaintext")
async def plaintext() -> str:
    return "Hello, World!"


@app.get("/json")
async def json() -> dict[str, str]:
    return {"message": "Hello, World!"}


@app.get("/users/{user_id:int}/posts")
async def posts(
    user_id: int, limit: Annotated[int, Query(ge=1, le=100)] = 10, q: str | None = None
) -> dict[str, object]:
    return {"user_id": user_id, "limit": limit, "q": q}


@app.post("/items")
async def create_item(item: Item) -> CreatedItem:
    return CreatedItem(name=item.name, price=item.price, tags=item.tags, id=1)


@app.get("/middleware", middleware=[request_id, process_time, CORS(allow_origins=["*"])])
async def middleware() -> dict[str, str]:
    return {"message": "Hello, World!"}


@app.get("/fortunes")
async def fortunes(request: Request) -> Response:
    rows = [*FORTUNES, Fortune(0, "Additional fortune added at request time.")]
    rows.sort(key=lambda f: f.message)
    return templates.render(request, "fortunes.html", {"fortunes": rows})

"""A feature tour of Bastion on embedded defaults: `make demo` serves it on :8000.

Open http://127.0.0.1:8000/docs for the interactive API documentation.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import msgspec

from bastion import (
    App,
    Controller,
    Depends,
    Header,
    NotFound,
    Query,
    Request,
    Response,
    Router,
    get,
    post,
)
from bastion.http.sse import EventSourceResponse, ServerSentEvent
from bastion.http.static import StaticFiles
from bastion.jobs import Jobs, JobsPlugin
from bastion.middleware.cors import CORS
from bastion.middleware.gzip import GZip
from bastion.middleware.request_id import RequestId
from bastion.middleware.server_timing import ServerTiming
from bastion.templates import Templates
from bastion.websockets import WebSocket

HERE = Path(__file__).parent
templates = Templates(HERE / "templates")


# -- data ------------------------------------------------------------------------------------
class Priority(StrEnum):
    low = "low"
    high = "high"


class NewTodo(msgspec.Struct):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    priority: Priority = Priority.low
    tags: list[Annotated[str, msgspec.Meta(max_length=30)]] = []


class Todo(msgspec.Struct):
    id: int
    title: str
    priority: Priority
    tags: list[str]
    created_at: datetime


class TagCount(msgspec.Struct):
    tag: str
    todos: int


class TodoStore:
    """An in-memory store, app-scoped: one instance for the whole lifespan."""

    def __init__(self) -> None:
        self.items: dict[int, Todo] = {}
        self.next_id = 1
        self.tag_counts: list[TagCount] = []  # recounted by the count_tags job

    def add(self, new: NewTodo) -> Todo:
        todo = Todo(self.next_id, new.title, new.priority, new.tags, datetime.now(UTC))
        self.items[todo.id] = todo
        self.next_id += 1
        return todo


async def todo_store() -> AsyncIterator[TodoStore]:
    store = TodoStore()
    store.add(NewTodo("Read the Bastion docs", Priority.high, ["docs"]))
    await count_tags(store)  # a job is still a function: called, it runs here and now
    yield store


Store = Annotated[TodoStore, Depends(todo_store, scope="app")]


# -- a background job ------------------------------------------------------------------------
jobs = Jobs()


@jobs.job
async def count_tags(store: Store) -> None:
    """Recount todos per tag, off the request path: a worker runs it after each write."""
    counts = Counter(tag for todo in store.items.values() for tag in todo.tags)
    store.tag_counts = [TagCount(tag, n) for tag, n in counts.most_common()]


async def recount_tags() -> None:
    # writes in a burst share one pending recount: the unique key returns the pending job
    await count_tags.using(unique="count_tags").enqueue()


# -- a router with shared tags ----------------------------------------------------------------
api = Router("/api", tags=["todos"])


@api.get("/todos")
async def list_todos(
    store: Store,
    priority: Priority | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[Todo]:
    """List todos, optionally filtered by priority."""
    todos = [t for t in store.items.values() if priority is None or t.priority == priority]
    return todos[:limit]


@api.post("/todos")
async def create_todo(new: NewTodo, store: Store) -> Todo:
    """Create a todo; the body is validated against `NewTodo`."""
    todo = store.add(new)
    await recount_tags()
    return todo


@api.get("/tags")
async def list_tags(store: Store) -> list[TagCount]:
    """Tags by number of todos, as of the last recount (a job run after each write)."""
    return store.tag_counts


@api.get("/todos/{todo_id}", name="todo")
async def get_todo(todo_id: int, store: Store) -> Todo:
    try:
        return store.items[todo_id]
    except KeyError:
        raise NotFound(f"Todo {todo_id} does not exist") from None


@api.delete("/todos/{todo_id}")
async def delete_todo(todo_id: int, store: Store) -> None:
    if store.items.pop(todo_id, None) is None:
        raise NotFound(f"Todo {todo_id} does not exist")
    await recount_tags()


# -- a class-based controller -----------------------------------------------------------------
class Greetings(Controller):
    prefix = "/greet"
    tags = ["greetings"]

    @get("/{name:slug}")
    async def hello(
        self, name: str, user_agent: Annotated[str | None, Header()] = None
    ) -> dict[str, str | None]:
        return {"message": f"Hello, {name}!", "user_agent": user_agent}

    @post("/echo", status_code=200)
    async def echo(self, request: Request) -> Response:
        return Response(await request.body(), media_type="application/octet-stream")


# -- the app ---------------------------------------------------------------------------------
app = App(
    title="Bastion tour",
    description="A tour of Bastion's core: routing, validation, DI, middleware, real time, jobs.",
    middleware=[RequestId(), ServerTiming(), GZip(), CORS(allow_origins=["*"])],
    # jobs in memory, run by a worker inside this process: nothing to install or start
    plugins=[JobsPlugin(jobs, backend="memory", run_worker=True)],
)
app.include(api)
app.include(Greetings)
app.mount("/static", StaticFiles(HERE / "static"), name="static")


@app.get("/", include_in_schema=False)
async def home(request: Request, store: Store) -> Response:
    return templates.render(request, "home.html", {"todos": list(store.items.values())})


@app.get("/events", tags=["real time"])
async def events() -> EventSourceResponse:
    """A Server-Sent Events stream: a tick per second, five ticks."""

    async def ticks() -> AsyncIterator[ServerSentEvent]:
        for n in range(5):
            yield ServerSentEvent({"tick": n}, event="tick", id=str(n))
            await asyncio.sleep(1)

    return EventSourceResponse(ticks())


@app.websocket("/ws/echo/{room}")
async def echo_socket(websocket: WebSocket, room: str) -> None:
    """Echo JSON messages back, tagged with the room name."""
    await websocket.accept()
    async for message in websocket.iter_json():
        await websocket.send_json({"room": room, "echo": message})

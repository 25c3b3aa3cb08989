"""A kitchen-sink app built only from what docs/*.md teach, for the hostile-input probe.

Static files, file downloads with ranges, templates, forms, uploads, safe redirects, CORS,
CSRF, sessions, JWT, rate limits, WebSockets, channels (WebSocket and long polling), SSE,
and the built-in middleware, each used through the public API as a user would.
"""

from __future__ import annotations

import datetime
import enum
import uuid
from pathlib import Path
from typing import Annotated, Any

import msgspec

from bastion import (
    App,
    Body,
    Cookie,
    Depends,
    File,
    Form,
    Header,
    HTMLResponse,
    Query,
    RedirectResponse,
    Request,
    Router,
    Settings,
    Unauthorized,
)
from bastion.auth import (
    AuthPlugin,
    CurrentUser,
    Identity,
    JWTAuth,
    MemoryStore,
    SessionAuth,
    SessionPlugin,
    login,
    logout,
    requires,
)
from bastion.http.files import FileResponse
from bastion.http.sse import EventSourceResponse, ServerSentEvent
from bastion.http.static import StaticFiles
from bastion.http.uploads import UploadFile
from bastion.middleware import CORS, ConditionalGet, GZip, RequestId, TrustedHost
from bastion.observability import ObservabilityPlugin
from bastion.security import (
    RateLimit,
    SecurityPlugin,
    csrf_token,
    install_template_globals,
    safe_next,
)
from bastion.templates import Templates
from bastion.websockets import WebSocket
from bastion.websockets.channels import Channel, ChannelError, ChannelSocket, SocketLimits, on
from bastion.websockets.pubsub import PubSub, PubSubPlugin, topic_events

SECRET = "hostile-probe-secret-key-of-forty-bytes!"
JWT_SECRET = "hostile-probe-jwt-secret-of-32-bytes-or-more"
TRUSTED_ORIGIN = "https://app.example.com"
MANAGEMENT_TOKEN = "hostile-probe-management-token"
MAX_BODY = 64 * 1024
tokens = JWTAuth(secret=JWT_SECRET)


class Kind(enum.Enum):
    note = "note"
    todo = "todo"


class NewNote(msgspec.Struct):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    body: str = ""
    stars: Annotated[int, msgspec.Meta(ge=0, le=5)] = 0
    weight: Annotated[float, msgspec.Meta(ge=0, le=1000)] = 1.0
    kind: Kind = Kind.note
    tags: list[Annotated[str, msgspec.Meta(max_length=20)]] = []
    due: datetime.date | None = None


class Signup(msgspec.Struct):
    email: str
    age: Annotated[int, msgspec.Meta(ge=0, le=150)]


class Move(msgspec.Struct):
    x: int
    y: int


class JoinParams(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]


class NewMessage(msgspec.Struct):
    body: Annotated[str, msgspec.Meta(max_length=500)]


class Member:
    """A user of the app; ``roles`` feed ``requires(...)``."""

    def __init__(self, id: int, name: str, password: str, roles: list[str]) -> None:
        self.id, self.name, self.password, self.roles = id, name, password, roles


MEMBERS = {"ada": Member(1, "ada", "correct horse", ["admin"]), "bob": Member(2, "bob", "pw", [])}
BY_ID = {str(m.id): m for m in MEMBERS.values()}


async def load_member(identity: Identity) -> Member | None:
    return BY_ID.get(identity.subject)


async def socket_user(token: Annotated[str | None, Query()] = None) -> str:
    """A channel socket's user: a JWT in the socket's params, as phoenix.js sends them."""
    if token is None:
        raise Unauthorized("log in first")
    try:
        return str(tokens.decode(token)["sub"])
    except Exception:  # any bad token is a refusal, never an error
        raise Unauthorized("bad token") from None


class Room(Channel):
    async def join(
        self, topic: str, params: JoinParams, user: Annotated[str, Depends(socket_user)]
    ) -> dict[str, Any]:
        if topic == "room:staff" and user != "1":
            raise ChannelError("unauthorized")
        self.assigns["name"] = params.name
        return {"welcome": params.name}

    async def after_join(self) -> None:
        await self.track(self.assigns["name"], {"typing": False})

    @on("new_msg")
    async def new_msg(self, payload: NewMessage) -> dict[str, Any]:
        await self.broadcast("new_msg", {"from": self.assigns["name"], "body": payload.body})
        return {"sent": True}

    @on("blob")
    async def blob(self, payload: bytes) -> dict[str, Any]:
        return {"bytes": len(payload)}


def make_site(root: Path) -> Path:
    """The files the app serves: a public folder, a secret beside it, a file to download."""
    (root / "public" / "css").mkdir(parents=True, exist_ok=True)
    (root / "public" / "index.html").write_text("<h1>home</h1>")
    (root / "public" / "css" / "site.css").write_text("body{}" * 200)
    (root / "secret.txt").write_text("TOP SECRET")
    (root / "file.bin").write_bytes(bytes(range(256)) * 4)
    for link, target in (("link.txt", root / "secret.txt"), ("linkdir", root)):
        if not (root / "public" / link).is_symlink():
            (root / "public" / link).symlink_to(target)
    (root / "templates").mkdir(exist_ok=True)
    (root / "templates" / "form.html").write_text(
        "<form method='post' action='/comment'>{{ csrf_input() }}<input name='text'></form>"
        "<p>{{ name }}</p><script nonce='{{ csp_nonce() }}'>go()</script>"
    )
    return root


def create_app(root: Path) -> App[Any]:
    """The app, serving files from ``root`` (made by ``make_site``)."""
    templates = Templates(root / "templates")
    install_template_globals(templates)
    pubsub = PubSubPlugin()
    app: App[Any] = App(
        settings=Settings(profile="test", secret_key=SECRET, max_body_size=MAX_BODY),
        middleware=[
            ConditionalGet(),
            TrustedHost(["testserver", "127.0.0.1", "localhost"]),
            RequestId(),
            GZip(),
            CORS(
                allow_origins=[TRUSTED_ORIGIN],
                allow_credentials=True,
                allow_methods=["GET", "POST", "PUT"],
                allow_headers=["x-csrf-token", "content-type", "authorization"],
            ),
        ],
        plugins=[
            pubsub,
            SessionPlugin(MemoryStore()),
            AuthPlugin(SessionAuth(), tokens, load_user=load_member),
            SecurityPlugin(
                csrf={"trusted_origins": [TRUSTED_ORIGIN], "exempt_paths": ["/socket/longpoll"]},
                trusted_proxies=["127.0.0.1"],
            ),
            ObservabilityPlugin(token=MANAGEMENT_TOKEN, logs=None, tracing=True),
        ],
    )
    app.mount("/static", StaticFiles(root / "public"), name="static")

    @app.get("/")
    async def home() -> str:
        return "ok"

    # -- files and templates -----------------------------------------------------------------
    @app.get("/download")
    async def download() -> FileResponse:
        return FileResponse(root / "file.bin", filename="file.bin")

    @app.get("/page")
    async def page(request: Request, name: str = "world") -> HTMLResponse:
        return templates.render(request, "form.html", {"name": name})

    @app.get("/csrf")
    async def token_for_scripts(request: Request) -> dict[str, str]:
        return {"token": csrf_token(request)}

    @app.post("/comment")
    async def comment(text: Annotated[str, Form(min_length=1, max_length=200)]) -> dict[str, str]:
        return {"text": text}

    # -- sessions, redirects and JWT ---------------------------------------------------------
    @app.post("/login")
    async def log_in(
        request: Request,
        username: Annotated[str, Form()],
        password: Annotated[str, Form()],
        next: Annotated[str, Form()] = "/",
    ) -> RedirectResponse:
        member = MEMBERS.get(username)
        if member is None or member.password != password:
            raise Unauthorized("Unknown user or wrong password")
        login(request, member)
        return RedirectResponse(safe_next(request, next, default="/home"))

    @app.get("/go")
    async def go(request: Request, next: str = "/") -> RedirectResponse:
        return RedirectResponse(safe_next(request, next, default="/home"))

    @app.post("/logout")
    async def log_out(request: Request) -> None:
        logout(request)

    @app.post("/token")
    async def issue(username: Annotated[str, Form()], password: Annotated[str, Form()]) -> dict:
        member = MEMBERS.get(username)
        if member is None or member.password != password:
            raise Unauthorized("Unknown user or wrong password")
        return {"token": tokens.encode({"sub": str(member.id)})}

    @app.get("/me")
    async def me(user: CurrentUser) -> dict[str, Any]:
        return {"name": user.name}

    @app.get("/admin", dependencies=[requires("admin")])
    async def admin() -> dict[str, bool]:
        return {"admin": True}

    @app.post("/visit")
    async def visit(request: Request) -> dict[str, int]:
        request.session["visits"] = int(request.session.get("visits", 0)) + 1
        return {"visits": request.session["visits"]}

    # -- typed parameters and bodies ---------------------------------------------------------
    notes = Router("/notes")

    @notes.post("")
    async def create_note(note: NewNote, user: CurrentUser) -> NewNote:
        return note

    @notes.put("/{note_id:int}")
    async def update_note(note_id: int, note: NewNote, user: CurrentUser) -> dict[str, Any]:
        return {"id": note_id, "title": note.title}

    @notes.get("/{note_id}")
    async def read_note(note_id: uuid.UUID) -> dict[str, str]:
        return {"id": str(note_id)}

    @notes.get("")
    async def list_notes(
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        offset: Annotated[int, Query(ge=0)] = 0,
        kind: Kind | None = None,
        tag: list[str] | None = None,
        since: datetime.date | None = None,
        exact: bool = False,
    ) -> dict[str, Any]:
        return {"limit": limit, "offset": offset}

    @notes.get("/search/optional")
    async def search_optional(
        q: Annotated[str | None, Query(max_length=20)] = None,
        page: Annotated[int | None, Query(ge=1, le=1000)] = None,
        x_trace: Annotated[str | None, Header(max_length=32)] = None,
        theme: Annotated[str | None, Cookie(max_length=10)] = None,
    ) -> dict[str, Any]:
        return {"q": q, "page": page}

    @notes.post("/bulk")
    async def bulk(ids: Annotated[list[int], Body()]) -> int:
        return len(ids)

    @notes.post("/raw")
    async def raw(request: Request) -> dict[str, str]:
        return {"type": type(await request.json()).__name__}

    app.include(notes)

    @app.get("/prices/{amount:float}")
    async def price(amount: float) -> dict[str, float]:
        return {"amount": amount}

    @app.get("/headers")
    async def typed_headers(
        x_count: Annotated[int, Header()] = 0,
        visits: Annotated[int, Cookie()] = 0,
    ) -> dict[str, int]:
        return {"count": x_count, "visits": visits}

    # -- forms and uploads -------------------------------------------------------------------
    @app.post("/signup")
    async def signup(data: Annotated[Signup, Form()]) -> Signup:
        return data

    @app.post("/upload")
    async def upload(
        file: Annotated[UploadFile, File()], caption: Annotated[str, Form(max_length=50)] = ""
    ) -> dict[str, Any]:
        content = await file.read()
        return {"name": file.filename, "bytes": len(content), "caption": caption}

    # -- rate limits -------------------------------------------------------------------------
    @app.get("/limited", middleware=[RateLimit("3/minute", name="probe")])
    async def limited() -> str:
        return "fine"

    # -- SSE ---------------------------------------------------------------------------------
    @app.get("/rooms/{room}/events")
    async def room_events(
        room: str, bus: PubSub, last_event_id: Annotated[str | None, Header()] = None
    ) -> EventSourceResponse:
        return EventSourceResponse(topic_events(bus, f"room:{room}", last_event_id=last_event_id))

    @app.post("/rooms/{room}/announce")
    async def announce(room: str, bus: PubSub, user: CurrentUser) -> dict[str, bool]:
        await bus.broadcast(f"room:{room}", "new_msg", {"from": user.name, "body": "hello"})
        return {"ok": True}

    @app.get("/countdown")
    async def countdown() -> EventSourceResponse:
        async def source() -> Any:
            for n in range(3):
                yield ServerSentEvent({"n": n}, event="tick", id=str(n))

        return EventSourceResponse(source())

    # -- WebSockets and channels -------------------------------------------------------------
    @app.websocket("/ws/moves")
    async def moves(websocket: WebSocket) -> None:
        await websocket.accept()
        async for move in websocket.iter_json(Move):
            await websocket.send_json({"ok": move.x + move.y})

    @app.websocket("/ws/echo")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        async for text in websocket.iter_text():
            await websocket.send_text(text)

    @app.websocket("/ws/games/{game_id:int}")
    async def game(websocket: WebSocket, game_id: int, size: Annotated[int, Query(ge=1)] = 8) -> None:
        await websocket.accept()
        await websocket.send_json({"game": game_id, "size": size})
        await websocket.close()

    app.include(
        ChannelSocket(
            "/socket",
            channels={"room:*": Room},
            longpoll=True,
            limits=SocketLimits(max_message_size=4096, max_channels=5),
        )
    )
    return app


def create_served_app() -> App[Any]:
    """The app for a real server (``uvicorn --factory``), with its files in the folder the
    test names (``BASTION_HOSTILE_SITE``), else a new temporary one."""
    import os
    import tempfile

    folder = os.environ.get("BASTION_HOSTILE_SITE") or tempfile.mkdtemp(prefix="bastion-hostile-")
    return create_app(make_site(Path(folder)))

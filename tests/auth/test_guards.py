"""CurrentUser, OptionalUser, requires(...): 401 when nobody is authenticated, 403 when the
user or the credentials lack what the route needs; request.user on HTTP and WebSocket."""

from typing import Annotated, Any

import pytest

from bastion import App, ConfigurationError, Depends, Request, Router, Settings
from bastion.auth import (
    AuthPlugin,
    CurrentUser,
    Identity,
    JWTAuth,
    OptionalUser,
    SessionAuth,
    SessionPlugin,
    current_user,
    login,
    requires,
)
from bastion.testing import TestClient, WebSocketDenied
from bastion.websockets import WebSocket
from tests.auth.conftest import SECRET

tokens = JWTAuth(secret=SECRET)


def bearer(**claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.encode({'sub': '1', **claims})}"}


def make_app(**plugin_options: Any) -> App:
    auth = AuthPlugin(tokens, **plugin_options)
    app = App(settings=Settings(profile="test"), plugins=[auth])

    @app.get("/me")
    async def me(user: CurrentUser) -> str:
        return user.subject

    @app.get("/maybe")
    async def maybe(user: OptionalUser) -> dict:
        return {"user": None if user is None else user.subject}

    @app.get("/admin", dependencies=[requires("admin")])
    async def admin(request: Request) -> str:
        return f"admin {request.user.subject}"

    @app.post("/reports", dependencies=[requires(scopes=["reports:write"])])
    async def write_report() -> str:
        return "written"

    staff = Router("/staff", dependencies=[requires("staff", "auditor")])

    @staff.get("/ledger")
    async def ledger(request: Request) -> str:
        return "ledger"

    app.include(staff)
    return app


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(make_app())


def test_anonymous_requests_get_401_with_a_challenge(client: TestClient) -> None:
    for path in ("/me", "/admin", "/staff/ledger"):
        response = client.get(path)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.headers["content-type"] == "application/problem+json"
    assert client.post("/reports").status_code == 401


def test_authenticated_without_the_role_gets_403(client: TestClient) -> None:
    response = client.get("/admin", headers=bearer(roles=["editor"]))
    assert response.status_code == 403
    assert response.json()["detail"] == "This needs the role admin"
    assert "www-authenticate" not in response.headers
    assert client.get("/admin", headers=bearer(roles=["admin"])).text == "admin 1"


def test_router_guards_need_every_role(client: TestClient) -> None:
    response = client.get("/staff/ledger", headers=bearer(roles=["staff"]))
    assert response.status_code == 403
    assert response.json()["detail"] == "This needs the role auditor"
    both = bearer(roles=["staff", "auditor"])
    assert client.get("/staff/ledger", headers=both).text == "ledger"


def test_scopes_narrow_what_a_credential_may_do(client: TestClient) -> None:
    narrow = client.post("/reports", headers=bearer(scope="reports:read"))
    assert narrow.status_code == 403
    assert narrow.json()["detail"] == "The credentials used lack the scope reports:write"
    assert client.post("/reports", headers=bearer(scope="reports:write x")).text == "written"
    assert client.post("/reports", headers=bearer()).text == "written"  # unrestricted token


def test_optional_user(client: TestClient) -> None:
    assert client.get("/maybe").json() == {"user": None}
    assert client.get("/maybe", headers=bearer()).json() == {"user": "1"}
    invalid = client.get("/maybe", headers={"Authorization": "Bearer not-a-token"})
    assert invalid.status_code == 401  # presented and wrong is never anonymous


class Account:
    def __init__(self, id: int, name: str, roles: list[str]) -> None:
        self.id, self.name, self.roles = id, name, roles

    @property
    def subject(self) -> str:
        return str(self.id)


ACCOUNTS = {"1": Account(1, "ada", ["admin"]), "2": Account(2, "bob", [])}


def directory() -> dict[str, Account]:
    return ACCOUNTS


async def load_account(
    identity: Identity, accounts: Annotated[dict[str, Account], Depends(directory)]
) -> Account | None:
    return accounts.get(identity.subject)


def test_load_user_gets_its_own_dependencies() -> None:
    app = make_app(load_user=load_account)
    Me = Annotated[Account, Depends(current_user)]

    @app.get("/name")
    async def name(me: Me) -> str:
        return me.name

    client = TestClient(app)
    assert client.get("/name", headers=bearer(sub="2")).text == "bob"
    assert client.get("/admin", headers=bearer(sub="1")).text == "admin 1"
    assert client.get("/admin", headers=bearer(sub="2")).status_code == 403
    gone = client.get("/name", headers=bearer(sub="99"))  # a valid token for a deleted user
    assert gone.status_code == 401
    app.dependency_overrides[directory] = lambda: {"2": Account(2, "test bob", [])}
    assert client.get("/name", headers=bearer(sub="2")).text == "test bob"


def test_sync_loaders_run_in_a_thread() -> None:
    def load(identity: Identity) -> Account | None:
        return ACCOUNTS.get(identity.subject)

    client = TestClient(make_app(load_user=load))
    assert client.get("/admin", headers=bearer(sub="1")).status_code == 200


def test_a_loader_without_an_identity_parameter_is_refused() -> None:
    async def load(subject: str) -> None:
        return None

    with pytest.raises(ConfigurationError, match="annotated `Identity`"):
        make_app(load_user=load)


def test_guards_without_the_plugin_fail_at_start_up() -> None:
    app = App(settings=Settings(profile="test"))

    @app.get("/me")
    async def me(user: CurrentUser) -> str:
        return "never"

    with pytest.raises(ConfigurationError, match="nothing provides Authentication"):
        app.url_path_for("me")


@pytest.mark.parametrize(
    ("plugins", "message"),
    [
        (lambda: [AuthPlugin()], "at least one backend"),
        (lambda: [AuthPlugin(object())], "not an authentication backend"),  # type: ignore[arg-type]
        (lambda: [AuthPlugin(SessionAuth())], "SessionAuth needs sessions"),
        (lambda: [AuthPlugin(tokens), AuthPlugin(tokens)], "one AuthPlugin"),
    ],
)
def test_plugin_misconfiguration(plugins: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        App(settings=Settings(profile="test"), plugins=plugins())


def test_request_user_on_a_route_that_does_not_authenticate_says_what_to_add() -> None:
    app = make_app()

    @app.get("/plain")
    async def plain(request: Request) -> str:
        return str(request.user)

    with pytest.raises(AttributeError, match="CurrentUser"):
        TestClient(app).get("/plain")


def test_every_route_authenticates_with_an_app_dependency() -> None:
    from bastion.auth import optional_user

    app = App(
        settings=Settings(profile="test"),
        plugins=[AuthPlugin(tokens)],
        dependencies=[Depends(optional_user)],
    )

    @app.get("/plain")
    async def plain(request: Request) -> str:
        return "anonymous" if request.user is None else request.user.subject

    client = TestClient(app)
    assert client.get("/plain").text == "anonymous"
    assert client.get("/plain", headers=bearer(sub="5")).text == "5"


def test_websocket_user_from_a_token() -> None:
    app = make_app()

    @app.websocket("/ws", dependencies=[requires("chat")])
    async def chat(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"hello": websocket.user.subject})
        await websocket.close()

    client = TestClient(app)
    with client.websocket_connect("/ws", headers=bearer(roles=["chat"])) as ws:
        assert ws.receive_json() == {"hello": "1"}
    with pytest.raises(WebSocketDenied) as denied:
        with client.websocket_connect("/ws"):
            pass
    assert (denied.value.code, denied.value.reason) == (1008, "Authentication required")


def test_websocket_user_from_the_session() -> None:
    app = App(
        settings=Settings(profile="test", secret_key=SECRET),
        plugins=[SessionPlugin(), AuthPlugin(SessionAuth())],
    )

    @app.post("/login")
    async def log_in(request: Request) -> None:
        login(request, Account(7, "eve", []))

    @app.websocket("/ws")
    async def feed(websocket: WebSocket, user: CurrentUser) -> None:
        await websocket.accept()
        await websocket.send_json({"user": user.subject, "same": websocket.user is user})
        await websocket.close()

    client = TestClient(app, base_url="https://testserver")
    client.post("/login")
    cookie = {"cookie": f"session={client.cookies['session']}"}
    with client.websocket_connect("/ws", headers=cookie) as ws:
        assert ws.receive_json() == {"user": "7", "same": True}


def test_identity_guards_verify_the_token_without_loading_the_user() -> None:
    """CurrentIdentity / OptionalIdentity: who authenticated, and load_user never runs."""
    from bastion.auth import CurrentIdentity, OptionalIdentity

    loaded: list[str] = []

    async def load(identity: Identity) -> dict[str, str]:
        loaded.append(identity.subject)
        return {"id": identity.subject}

    app = App(settings=Settings(profile="test"), plugins=[AuthPlugin(tokens, load_user=load)])

    @app.get("/who")
    async def who(identity: CurrentIdentity) -> dict[str, str]:
        return {"sub": identity.subject}

    @app.get("/maybe")
    async def maybe(identity: OptionalIdentity) -> dict[str, str | None]:
        return {"sub": None if identity is None else identity.subject}

    client = TestClient(app)
    assert client.get("/who", headers=bearer(sub="9")).json() == {"sub": "9"}
    assert client.get("/maybe", headers=bearer(sub="9")).json() == {"sub": "9"}
    assert client.get("/maybe").json() == {"sub": None}
    refused = client.get("/who")
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert client.get("/maybe", headers={"Authorization": "Bearer bad"}).status_code == 401
    assert loaded == []
    security = client.get("/openapi.json").json()["paths"]["/maybe"]["get"]["security"]
    assert security == [{"jwt": []}, {}]

"""Cross-site WebSocket hijacking: a page on another site may open a WebSocket to this one
and the browser sends this site's cookies with the handshake; SecurityPlugin refuses such
handshakes unless their Origin is this site or a trusted one."""

import pytest

from bastion import App, Settings, WebSocket
from bastion.security import SecurityPlugin
from bastion.testing import TestClient
from bastion.testing.websocket import WebSocketDenied

SESSION = {"cookie": "session=abc"}


def make_client(**csrf) -> TestClient:
    settings = Settings(profile="test", secret_key="s" * 40)
    app = App(settings=settings, plugins=[SecurityPlugin(csrf=csrf or True)])

    @app.websocket("/ws")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("welcome")
        await websocket.close()

    @app.websocket("/public/ws")
    async def public(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("public")
        await websocket.close()

    @app.get("/page")
    async def page() -> str:
        return "still served"

    return TestClient(app)


def greeting(client: TestClient, path: str = "/ws", **headers: str) -> str:
    with client.websocket_connect(path, headers=headers) as ws:
        return ws.receive_text()


def test_a_foreign_origin_with_cookies_is_refused_before_the_handler():
    with make_client() as client, pytest.raises(WebSocketDenied) as denied:
        greeting(client, origin="https://evil.example", **SESSION)
    assert denied.value.code == 1008
    assert "Cross-origin WebSocket refused: https://evil.example" in denied.value.reason


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://testserver", **SESSION},  # this site (ws:// pages are http://)
        {"origin": "https://evil.example"},  # no cookies: nothing ambient to abuse
        SESSION,  # no Origin: not a browser
    ],
)
def test_same_site_cookie_less_and_origin_less_handshakes_are_accepted(headers):
    with make_client() as client:
        assert greeting(client, **headers) == "welcome"
        assert client.get("/page").text == "still served"


def test_trusted_origins_and_exempt_paths_apply_to_websockets_too():
    with make_client(trusted_origins=["https://app.example"], exempt_paths=["/public/"]) as client:
        assert greeting(client, origin="https://app.example", **SESSION) == "welcome"
        assert greeting(client, "/public/ws", origin="https://evil.example", **SESSION) == "public"
        with pytest.raises(WebSocketDenied):
            greeting(client, origin="https://evil.example", **SESSION)


def test_without_csrf_protection_the_handshake_is_not_checked():
    settings = Settings(profile="test", secret_key="s" * 40)
    app = App(settings=settings, plugins=[SecurityPlugin(csrf=False)])

    @app.websocket("/ws")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("welcome")
        await websocket.close()

    with TestClient(app) as client:
        assert greeting(client, origin="https://evil.example", **SESSION) == "welcome"

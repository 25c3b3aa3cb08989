"""The request's own parsing of hostile input: Content-Length and the raw query string."""

import pytest

from bastion import App, Request, Settings


def make_app() -> App:
    app = App(settings=Settings(profile="test"))

    @app.post("/echo")
    async def echo(request: Request) -> dict:
        return {"size": len(await request.body())}

    @app.get("/search")
    async def search(q: str = "") -> dict:
        return {"q": q}

    return app


async def call(app: App, method: str, headers: list, query: bytes = b"") -> tuple[int, bytes]:
    """One exchange with raw header and query bytes, which httpx will not send."""
    sent: list[dict] = []
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "scheme": "http",
        "method": method, "path": "/echo" if method == "POST" else "/search", "raw_path": b"",
        "query_string": query, "root_path": "", "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 1), "server": ("testserver", 80),
    }

    async def receive() -> dict:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


@pytest.mark.parametrize("declared", [b"\xb2", "\u0662".encode(), b"+2", b"2 ", b"0x2", b""])
async def test_a_content_length_of_other_than_ascii_digits_is_400(declared: bytes) -> None:
    """``'²'.isdigit()`` is true and ``int('²')`` fails: it was a 500."""
    status, body = await call(make_app(), "POST", [(b"content-length", declared)])
    assert status == 400, body
    assert b"Content-Length" in body


async def test_raw_query_bytes_that_are_not_utf8_are_400() -> None:
    status, body = await call(make_app(), "GET", [], query=b"q=\xff\xfe")
    assert status == 400, body
    assert b"UTF-8" in body


async def test_raw_utf8_query_bytes_are_read_as_utf8() -> None:
    """``curl '/search?q=é'`` sends the bytes unescaped; they were read as Latin-1 ('Ã©')."""
    status, body = await call(make_app(), "GET", [], query="q=é".encode())
    assert (status, body) == (200, '{"q":"é"}'.encode())

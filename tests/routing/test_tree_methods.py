"""Two routes whose paths match the same URL answer each its own methods: a match without
the request's method gives way to a later one with it, as routes declared in order do in
Starlette and Django; only when no match has the method is it a 405."""

from bastion import App, Settings
from bastion.testing import TestClient


def make_app() -> App:
    app = App(settings=Settings(profile="test"))

    @app.post("/posts/{title}")
    async def create(title: str) -> str:
        return f"created {title}"

    @app.delete("/posts/{post_id}")
    async def remove(post_id: int) -> str:
        return f"removed {post_id}"

    @app.get("/files/{name}")
    async def file(name: str) -> str:
        return f"file {name}"

    @app.put("/files/{rest:path}")
    async def upload(rest: str) -> str:
        return f"stored {rest}"

    return app


def test_each_route_answers_its_own_method_at_the_same_shape():
    with TestClient(make_app()) as client:
        assert client.post("/posts/7").text == "created 7"
        assert client.delete("/posts/7").text == "removed 7"
        assert client.get("/files/a").text == "file a"
        assert client.put("/files/a").text == "stored a"
        assert client.put("/files/a/b").text == "stored a/b"


def test_a_method_no_match_has_is_a_405_naming_the_first_matchs_methods():
    with TestClient(make_app()) as client:
        refused = client.patch("/posts/7")
        assert refused.status_code == 405
        assert "POST" in refused.headers["allow"]
        assert client.delete("/posts/not-a-number").status_code == 405  # only POST matches

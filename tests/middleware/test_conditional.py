"""ConditionalGet: weak ETags on GET answers, 304 for clients that already hold them."""

import pytest

from bastion import App, Response, Settings
from bastion.middleware import ConditionalGet, GZip
from bastion.testing import TestClient

REPORT = {"rows": ["x" * 50] * 40}


def make_client(*middleware) -> TestClient:
    # outermost, so that a 304 carries what inner middleware adds (GZip's vary)
    app = App(settings=Settings(profile="test"), middleware=[ConditionalGet(), *middleware])

    @app.get("/report")
    async def report() -> dict:
        return REPORT

    @app.post("/report")
    async def change() -> dict:
        return REPORT

    @app.get("/tagged")
    async def tagged() -> Response:
        return Response(b"v1", headers={"etag": '"v1"', "cache-control": "max-age=60",
                                        "set-cookie": "seen=1", "x-extra": "dropped in 304"})

    @app.get("/private")
    async def private() -> Response:
        return Response(b"secret", headers={"cache-control": "no-store"})

    @app.get("/dated")
    async def dated() -> Response:
        return Response(b"old news", headers={"last-modified": "Mon, 23 Nov 2026 10:00:00 GMT"})

    @app.get("/missing")
    async def missing() -> Response:
        return Response(b"gone", 404)

    return TestClient(app)


def test_a_get_answer_gets_a_weak_etag_and_a_matching_request_gets_304():
    client = make_client()
    first = client.get("/report")
    etag = first.headers["etag"]
    assert etag.startswith('W/"') and first.json() == REPORT
    again = client.get("/report", headers={"if-none-match": etag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    listed = client.get("/report", headers={"if-none-match": f'"other", {etag.removeprefix("W/")}'})
    assert listed.status_code == 304  # weak comparison, any tag of the list
    assert client.get("/report", headers={"if-none-match": "*"}).status_code == 304
    assert client.get("/report", headers={"if-none-match": '"stale"'}).status_code == 200
    assert client.head("/report", headers={"if-none-match": etag}).status_code == 304


def test_a_handlers_etag_is_kept_and_the_304_keeps_only_what_rfc_9110_lists():
    client = make_client()
    answer = client.get("/tagged", headers={"if-none-match": '"v1"'})
    assert answer.status_code == 304
    assert answer.headers["etag"] == '"v1"' and answer.headers["cache-control"] == "max-age=60"
    assert answer.headers["set-cookie"] == "seen=1" and "x-extra" not in answer.headers


@pytest.mark.parametrize("path", ["/private", "/missing"])
def test_no_store_answers_and_errors_get_no_etag(path):
    response = make_client().get(path, headers={"if-none-match": "*"})
    assert "etag" not in response.headers and response.status_code in (200, 404)


def test_unsafe_methods_are_answered_in_full():
    client = make_client()
    etag = client.get("/report").headers["etag"]
    changed = client.post("/report", headers={"if-none-match": etag})
    assert changed.status_code == 201 and "etag" not in changed.headers


def test_if_modified_since_decides_without_if_none_match():
    client = make_client()
    later = {"if-modified-since": "Mon, 23 Nov 2026 11:00:00 GMT"}
    earlier = {"if-modified-since": "Sun, 22 Nov 2026 11:00:00 GMT"}
    assert client.get("/dated", headers=later).status_code == 304
    assert client.get("/dated", headers=earlier).status_code == 200
    assert client.get("/dated", headers={"if-modified-since": "yesterday"}).status_code == 200


def test_with_gzip_the_compressed_variant_revalidates_too():
    client = make_client(GZip())
    first = client.get("/report", headers={"accept-encoding": "gzip"})
    assert first.headers["content-encoding"] == "gzip"
    again = client.get("/report", headers={"accept-encoding": "gzip",
                                           "if-none-match": first.headers["etag"]})
    assert again.status_code == 304 and again.headers["vary"] == "accept-encoding"

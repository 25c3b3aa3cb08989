import os
import re
from email.utils import formatdate
from pathlib import Path

import anyio
import pytest

from bastion import App, Settings
from bastion.http.files import FileResponse, parse_range
from bastion.testing import TestClient

CONTENT = bytes(range(256)) * 4  # 1024 bytes


class Sent:
    """What an ASGI app sent, from a hand-made call."""

    def __init__(self, messages):
        self.messages = messages
        start = messages[0]
        assert start["type"] == "http.response.start"
        self.status = start["status"]
        self.raw_headers = start["headers"]
        self.headers = {k.decode(): v.decode() for k, v in start["headers"]}
        self.bodies = [m for m in messages[1:] if m["type"] == "http.response.body"]
        self.body = b"".join(m.get("body", b"") for m in self.bodies)


async def call(app, headers=None, method="GET") -> Sent:
    scope = {
        "type": "http",
        "method": method,
        "path": "/",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    messages = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        messages.append(message)

    with anyio.fail_after(5):
        await app(scope, receive, send)
    sent = Sent(messages)
    assert sent.bodies, "the response never sent a body message"
    assert sent.bodies[-1].get("more_body", False) is False, "the body was never finished"
    assert all(m.get("more_body", False) for m in sent.bodies[:-1])
    return sent


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(CONTENT)
    return path


# -- whole files and headers ------------------------------------------------------------------


async def test_whole_file_is_sent_with_validators(data):
    sent = await call(FileResponse(data))
    info = data.stat()
    assert sent.status == 200
    assert sent.body == CONTENT
    assert sent.headers["content-length"] == "1024"
    assert sent.headers["accept-ranges"] == "bytes"
    assert sent.headers["content-type"] == "application/octet-stream"
    assert sent.headers["last-modified"] == formatdate(int(info.st_mtime), usegmt=True)
    assert re.fullmatch(r'"[0-9a-f]+-[0-9a-f]+"', sent.headers["etag"])  # strong


async def test_etag_changes_when_the_file_changes(data):
    before = (await call(FileResponse(data))).headers["etag"]
    data.write_bytes(CONTENT + b"more")
    after = (await call(FileResponse(data))).headers["etag"]
    assert before != after


async def test_file_is_streamed_in_chunks_of_chunk_size(data):
    sent = await call(FileResponse(data, chunk_size=100))
    sizes = [len(m["body"]) for m in sent.bodies if m["body"]]
    assert sizes == [100] * 10 + [24]
    assert sent.body == CONTENT


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("notes.txt", "text/plain; charset=utf-8"),
        ("page.html", "text/html; charset=utf-8"),
        ("data.json", "application/json"),
        ("image.png", "image/png"),
        ("mystery.zzz-unknown", "application/octet-stream"),
    ],
)
async def test_media_type_is_guessed_from_the_name(tmp_path, name, expected):
    path = tmp_path / name
    path.write_bytes(b"x")
    assert (await call(FileResponse(path))).headers["content-type"] == expected


async def test_explicit_media_type_and_download_name_win_over_the_path(data):
    sent = await call(FileResponse(data, filename="table.csv"))
    assert sent.headers["content-type"] == "text/csv; charset=utf-8"
    sent = await call(FileResponse(data, media_type="image/webp", filename="table.csv"))
    assert sent.headers["content-type"] == "image/webp"


async def test_ascii_filename_gives_plain_content_disposition(data):
    sent = await call(FileResponse(data, filename="report 2024.pdf"))
    assert sent.headers["content-disposition"] == 'attachment; filename="report 2024.pdf"'
    sent = await call(FileResponse(data, filename="photo.png", content_disposition="inline"))
    assert sent.headers["content-disposition"] == 'inline; filename="photo.png"'


async def test_unicode_filename_gets_ascii_fallback_and_utf8_name(data):
    sent = await call(FileResponse(data, filename="résumé notes.txt"))
    assert sent.headers["content-disposition"] == (
        "attachment; filename=\"resume notes.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20notes.txt"
    )


async def test_filename_cannot_inject_header_syntax(data):
    sent = await call(FileResponse(data, filename='evil".txt\r\nset-cookie: a=b'))
    value = sent.headers["content-disposition"]
    assert "\r" not in value and "\n" not in value
    assert value.startswith('attachment; filename="evil_.txt__set-cookie: a=b"; filename*=UTF-8')
    assert "set-cookie" not in sent.headers


def test_bad_options_fail_when_the_response_is_built(data):
    with pytest.raises(ValueError, match="'attachment' or 'inline'"):
        FileResponse(data, filename="x", content_disposition="download")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="chunk_size"):
        FileResponse(data, chunk_size=0)


async def test_stat_result_given_by_the_caller_is_used_for_validators(data, tmp_path):
    other = tmp_path / "other.bin"
    other.write_bytes(b"abc")
    os.utime(other, (1_000_000_000, 1_000_000_000))
    sent = await call(FileResponse(data, stat_result=other.stat()))
    assert sent.headers["last-modified"] == "Sun, 09 Sep 2001 01:46:40 GMT"


async def test_head_sends_headers_only(data):
    sent = await call(FileResponse(data), method="HEAD")
    assert sent.status == 200
    assert sent.body == b""
    assert sent.headers["content-length"] == "1024"


async def test_empty_file(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    sent = await call(FileResponse(path))
    assert (sent.status, sent.body, sent.headers["content-length"]) == (200, b"", "0")


# -- missing files -----------------------------------------------------------------------------


async def test_file_removed_before_sending_is_a_404_problem_and_nothing_else(data):
    response = FileResponse(data)
    data.unlink()
    sent = await call(response)
    assert sent.status == 404
    assert sent.headers["content-type"] == "application/problem+json"
    assert b'"status":404' in sent.body
    assert "etag" not in sent.headers
    assert len(sent.messages) == 2  # one problem document, no half-sent file before it


@pytest.mark.parametrize("kind", ["directory", "fifo", "below-a-file"])
async def test_a_path_that_is_not_a_regular_file_is_404(tmp_path, kind):
    if kind == "directory":
        path = tmp_path
    elif kind == "fifo":
        path = tmp_path / "pipe"
        os.mkfifo(path)  # opening it for reading would block a thread forever
    else:
        (tmp_path / "file").write_text("x")
        path = tmp_path / "file" / "child"
    sent = await call(FileResponse(path))
    assert sent.status == 404


def test_missing_file_through_the_app_is_a_404_problem(tmp_path):
    app = App(settings=Settings(profile="test"))

    @app.get("/missing")
    async def missing() -> FileResponse:
        return FileResponse(tmp_path / "nope.bin")

    response = TestClient(app).get("/missing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "The file does not exist"


# -- conditional requests ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "template", ["{etag}", "W/{etag}", '"other", {etag}', '"a","b",W/{etag}', "*"]
)
async def test_if_none_match_gives_304_without_body(data, template):
    response = FileResponse(data, headers={"cache-control": "max-age=60"})
    etag = (await call(response)).headers["etag"]
    sent = await call(response, {"if-none-match": template.format(etag=etag)})
    assert sent.status == 304
    assert sent.body == b""
    assert sent.headers["etag"] == etag
    assert sent.headers["cache-control"] == "max-age=60"
    assert "content-length" not in sent.headers and "content-type" not in sent.headers


async def test_if_none_match_wins_over_if_modified_since(data):
    response = FileResponse(data)
    modified = (await call(response)).headers["last-modified"]
    sent = await call(response, {"if-none-match": '"old"', "if-modified-since": modified})
    assert sent.status == 200
    assert sent.body == CONTENT


@pytest.mark.parametrize(
    ("since", "status"),
    [
        ("Sun, 09 Sep 2001 01:46:40 GMT", 304),  # the exact modification time
        ("Mon, 10 Sep 2001 00:00:00 GMT", 304),  # later
        ("Mon, 10 Sep 2001 00:00:00 -0000", 304),  # a naive date is still UTC
        ("Sat, 08 Sep 2001 00:00:00 GMT", 200),  # earlier
        ("yesterday-ish", 200),
        ("", 200),
    ],
)
async def test_if_modified_since(data, since, status):
    os.utime(data, (1_000_000_000, 1_000_000_000))
    assert (await call(FileResponse(data), {"if-modified-since": since})).status == status


async def test_conditions_apply_only_to_get_and_head(data):
    response = FileResponse(data)
    etag = (await call(response)).headers["etag"]
    assert (await call(response, {"if-none-match": etag}, method="HEAD")).status == 304
    sent = await call(response, {"if-none-match": etag, "range": "bytes=0-1"}, method="POST")
    assert (sent.status, sent.body) == (200, CONTENT)


async def test_conditions_and_ranges_do_not_apply_to_a_non_200_response(data):
    sent = await call(FileResponse(data, status_code=404), {"range": "bytes=0-9"})
    assert (sent.status, sent.body) == (404, CONTENT)


# -- ranges ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [
        ("bytes=10-19", 10, 19),
        ("bytes=0-0", 0, 0),
        ("bytes=1000-", 1000, 1023),
        ("bytes=-24", 1000, 1023),
        ("bytes=1000-5000", 1000, 1023),  # the end is clamped to the file
        ("bytes=-5000", 0, 1023),  # a suffix longer than the file is the whole file
        ("BYTES = 10-19", 10, 19),  # the unit is case-insensitive
        ("bytes=10-19, 5000-6000", 10, 19),  # unsatisfiable parts are dropped
    ],
)
async def test_range_request_returns_206(data, spec, start, end):
    sent = await call(FileResponse(data), {"range": spec})
    assert sent.status == 206
    assert sent.body == CONTENT[start : end + 1]
    assert sent.headers["content-range"] == f"bytes {start}-{end}/1024"
    assert sent.headers["content-length"] == str(end - start + 1)


async def test_range_crossing_chunk_boundaries(data):
    sent = await call(FileResponse(data, chunk_size=7), {"range": "bytes=5-40"})
    assert sent.body == CONTENT[5:41]
    assert max(len(m["body"]) for m in sent.bodies) == 7


async def test_overlapping_and_adjacent_ranges_are_merged_into_one(data):
    sent = await call(FileResponse(data), {"range": "bytes=10-19,15-29,30-39"})
    assert sent.status == 206
    assert sent.headers["content-range"] == "bytes 10-39/1024"
    assert sent.body == CONTENT[10:40]


async def test_several_ranges_are_sent_as_multipart_byteranges(tmp_path):
    path = tmp_path / "letters.txt"
    path.write_bytes(b"abcdefghijklmnopqrstuvwxyz")
    sent = await call(FileResponse(path), {"range": "bytes=20-22, 0-2"})
    assert sent.status == 206
    match = re.fullmatch(r"multipart/byteranges; boundary=(\w+)", sent.headers["content-type"])
    assert match
    boundary = match.group(1)
    assert int(sent.headers["content-length"]) == len(sent.body)
    assert (
        sent.body
        == (
            f"--{boundary}\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"content-range: bytes 0-2/26\r\n\r\nabc\r\n"
            f"--{boundary}\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"content-range: bytes 20-22/26\r\n\r\nuvw\r\n"
            f"--{boundary}--\r\n"
        ).encode()
    )


async def test_multipart_head_sends_the_length_but_no_body(data):
    sent = await call(FileResponse(data), {"range": "bytes=0-1,10-11"}, method="HEAD")
    assert sent.status == 206
    assert sent.body == b""
    assert int(sent.headers["content-length"]) > 4


async def test_too_many_ranges_send_the_whole_file(data):
    spec = "bytes=" + ",".join(f"{n}-{n}" for n in range(0, 200, 2))
    sent = await call(FileResponse(data), {"range": spec})
    assert (sent.status, sent.body) == (200, CONTENT)


@pytest.mark.parametrize("spec", ["bytes=5000-6000", "bytes=1024-", "bytes=-0", "bytes=2000-,-0"])
async def test_unsatisfiable_range_is_416(data, spec):
    sent = await call(FileResponse(data), {"range": spec})
    assert sent.status == 416
    assert sent.headers["content-range"] == "bytes */1024"
    assert sent.headers["content-type"] == "application/problem+json"
    assert b"1024 bytes" in sent.body


@pytest.mark.parametrize(
    "spec",
    [
        "bytes=abc",
        "items=0-1",
        "bytes=5",
        "bytes=-",
        "bytes=",
        "bytes=,",
        "bytes=5-2",  # last before first: invalid, not unsatisfiable
        "bytes=0-1;2-3",
        "bytes=\u00b2-5",  # a latin-1 superscript digit is not a digit
        "bytes=1 0-20",
        "bytes=" + "9" * 5000 + "-",  # too many digits for int()
        "0-10",
    ],
)
async def test_malformed_range_is_ignored_and_the_whole_file_sent(data, spec):
    sent = await call(FileResponse(data), {"range": spec})
    assert (sent.status, sent.body) == (200, CONTENT)


async def test_range_on_an_empty_file_is_ignored(tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    sent = await call(FileResponse(path), {"range": "bytes=0-10"})
    assert (sent.status, sent.body) == (200, b"")


async def test_if_range(data):
    os.utime(data, (1_000_000_000, 1_000_000_000))
    response = FileResponse(data)
    first = await call(response)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    cases = {
        etag: 206,
        modified: 206,
        '"stale"': 200,
        "W/" + etag: 200,  # If-Range needs a strong match
        "Sat, 08 Sep 2001 00:00:00 GMT": 200,
        "garbage": 200,
    }
    for if_range, status in cases.items():
        sent = await call(response, {"range": "bytes=0-9", "if-range": if_range})
        assert sent.status == status, if_range
        assert sent.body == (CONTENT[:10] if status == 206 else CONTENT)


def test_parse_range_sorts_merges_and_clamps():
    assert parse_range("bytes=50-59,0-9,5-14,15-19", 100) == [(0, 19), (50, 59)]
    assert parse_range("bytes=90-,-5", 100) == [(90, 99)]
    assert parse_range("bytes=, 0-1 ,", 100) == [(0, 1)]
    assert parse_range("bytes=200-300", 100) == []
    assert parse_range("bytes=1-0", 100) is None


def test_range_through_the_app(data):
    app = App(settings=Settings(profile="test"))

    @app.get("/data")
    async def serve() -> FileResponse:
        return FileResponse(data)

    client = TestClient(app)
    response = client.get("/data", headers={"range": "bytes=10-19"})
    assert response.status_code == 206
    assert response.content == CONTENT[10:20]
    etag = response.headers["etag"]
    assert client.get("/data", headers={"if-none-match": etag}).status_code == 304

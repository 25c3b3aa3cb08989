"""Form bodies: URL-encoded and multipart, parsed as they stream in.

Multipart parsing uses python-multipart's streaming parser fed from ``request.stream()``, so
the body size limit applies while reading and large files spill to disk instead of memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

from bastion.exceptions import MalformedBody, PayloadTooLarge, UnsupportedMediaType
from bastion.http.uploads import UploadFile

if TYPE_CHECKING:
    from bastion.http.request import Request

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class FormData(Mapping[str, "str | UploadFile"]):
    """Read-only multi-dict of fields and files; ``[]`` gives the last value."""

    def __init__(self, items: list[tuple[str, str | UploadFile]]) -> None:
        self._items = items
        self._last = dict(items)

    def __getitem__(self, key: str) -> str | UploadFile:
        return self._last[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._last)

    def __len__(self) -> int:
        return len(self._last)

    def getlist(self, key: str) -> list[str | UploadFile]:
        return [v for k, v in self._items if k == key]

    def multi_items(self) -> list[tuple[str, str | UploadFile]]:
        return list(self._items)

    async def close(self) -> None:
        for _, value in self._items:
            if isinstance(value, UploadFile):
                await value.close()


async def parse_form(request: Request, *, max_fields: int = 1000, max_files: int = 100) -> FormData:
    """Parse the request body as a form (URL-encoded or multipart)."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    media = content_type.decode("latin-1").lower()
    if media == "application/x-www-form-urlencoded":
        return _parse_urlencoded(await request.body(), max_fields)
    if media == "multipart/form-data":
        boundary = options.get(b"boundary")
        if not boundary:
            raise MalformedBody("The multipart body has no boundary in its Content-Type")
        return await _parse_multipart(request, boundary, max_fields, max_files)
    raise UnsupportedMediaType(
        f"Expected a form body ({' or '.join(FORM_TYPES)}), got {media or 'no content type'!r}"
    )


def _parse_urlencoded(body: bytes, max_fields: int) -> FormData:
    items: list[tuple[str, str | UploadFile]] = []
    try:
        text = body.decode("utf-8")
        for pair in text.split("&") if text else ():
            if not pair:
                continue
            key, _, value = pair.partition("=")
            items.append((unquote_plus(key, errors="strict"), unquote_plus(value, errors="strict")))
            if len(items) > max_fields:
                raise PayloadTooLarge(f"The form has more than {max_fields} fields")
    except UnicodeDecodeError:
        raise MalformedBody("The form body is not valid UTF-8") from None
    return FormData(items)


class _MultipartState:
    """Collects parts as the parser calls back; files are written after each chunk."""

    def __init__(self, max_fields: int, max_files: int) -> None:
        self.max_fields, self.max_files = max_fields, max_files
        self.items: list[tuple[str, str | UploadFile]] = []
        self.header_field = b""
        self.header_value = b""
        self.headers: dict[str, str] = {}
        self.data = bytearray()
        self.fields = 0
        self.files = 0
        self.current: UploadFile | None = None
        self.name = ""
        self.pending: list[tuple[UploadFile, bytes]] = []

    def on_part_begin(self) -> None:
        self.headers, self.data, self.current = {}, bytearray(), None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header_field.decode("latin-1").lower()] = self.header_value.decode(
            "latin-1"
        )
        self.header_field, self.header_value = b"", b""

    def on_headers_finished(self) -> None:
        disposition, options = parse_options_header(self.headers.get("content-disposition", ""))
        if disposition.lower() != b"form-data" or b"name" not in options:
            raise MalformedBody("A multipart part lacks `Content-Disposition: form-data; name=...`")
        self.name = _utf8(options[b"name"], "a field name")
        if b"filename" in options:
            self.files += 1
            if self.files > self.max_files:
                raise PayloadTooLarge(f"The form has more than {self.max_files} files")
            self.current = UploadFile(
                _utf8(options[b"filename"], "a file name"),
                self.headers.get("content-type", "application/octet-stream"),
                self.headers,
            )
        else:
            self.fields += 1
            if self.fields > self.max_fields:
                raise PayloadTooLarge(f"The form has more than {self.max_fields} fields")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.current is not None:
            self.pending.append((self.current, data[start:end]))
        else:
            self.data += data[start:end]

    def on_part_end(self) -> None:
        if self.current is not None:
            self.items.append((self.name, self.current))
        else:
            self.items.append((self.name, _utf8(bytes(self.data), f"field {self.name!r}")))


def _utf8(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedBody(f"The multipart body has invalid UTF-8 in {what}") from None


async def _parse_multipart(
    request: Request, boundary: bytes, max_fields: int, max_files: int
) -> FormData:
    state = _MultipartState(max_fields, max_files)
    callbacks: Any = {
        name: getattr(state, name)
        for name in (
            "on_part_begin",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
            "on_part_data",
            "on_part_end",
        )
    }
    try:
        parser = MultipartParser(boundary, callbacks)
    except FormParserError as exc:  # a boundary over the parser's 256 bytes
        raise MalformedBody(f"The multipart boundary is invalid: {exc}") from None
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            for upload, data in state.pending:
                await upload.write(data)
            state.pending.clear()
        parser.finalize()
    except FormParserError as exc:
        await FormData(state.items).close()
        raise MalformedBody(f"The multipart body is malformed: {exc}") from None
    except BaseException:
        await FormData(state.items).close()
        raise
    if parser.state != MultipartState.END:
        await FormData(state.items).close()
        raise MalformedBody("The multipart body ended before its closing boundary")
    for _, value in state.items:
        if isinstance(value, UploadFile):
            await value.seek(0)
    return FormData(state.items)

"""What a file is, from its first bytes: the magic numbers of the types uploads commonly are.

The type a client declares (and the file name's extension) is whatever the client chose;
the first bytes are what a browser or an image library will act on. Only types with a
recognisable signature are here: HTML and SVG are left out on purpose, as a browser runs
their scripts when the file is served from the site's own origin.
"""

from __future__ import annotations

#: Enough of a file's start for every signature below.
HEAD_SIZE = 512

_SIGNATURES: list[tuple[str, int, bytes]] = [
    ("image/png", 0, b"\x89PNG\r\n\x1a\n"),
    ("image/jpeg", 0, b"\xff\xd8\xff"),
    ("image/gif", 0, b"GIF87a"),
    ("image/gif", 0, b"GIF89a"),
    ("application/pdf", 0, b"%PDF-"),
    ("application/zip", 0, b"PK\x03\x04"),
    ("application/gzip", 0, b"\x1f\x8b"),
    ("audio/mpeg", 0, b"ID3"),
    ("video/webm", 0, b"\x1a\x45\xdf\xa3"),
    ("video/mp4", 4, b"ftyp"),
]

#: The extension a stored file's key gets for each type (the key never uses the client's).
EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "application/gzip": ".gz",
    "audio/mpeg": ".mp3",
    "audio/wav": ".wav",
    "video/webm": ".webm",
    "video/mp4": ".mp4",
    "text/plain": ".txt",
}

KNOWN_TYPES = frozenset(EXTENSIONS)


def sniff(head: bytes) -> str | None:
    """The media type ``head`` (a file's first bytes) starts like, or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    for media, offset, magic in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return media
    if _is_text(head):
        return "text/plain"
    return None


def _is_text(head: bytes) -> bool:
    """UTF-8 without control characters other than whitespace (a cut last character is
    allowed: ``head`` is only the file's start)."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:
            return False
        text = head[: exc.start].decode("utf-8")
    return all(c >= " " or c in "\t\n\r\f" for c in text)

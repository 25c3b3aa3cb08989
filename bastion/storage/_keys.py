"""Storage keys: made by the storage, checked wherever one comes back from outside.

A key is ``/``-separated segments of letters, digits, ``.``, ``_`` and ``-`` that never start
with a dot: no ``..``, no hidden files, no absolute path, no backslash or NUL, so a key
cannot name anything outside the storage's root on a local disk.
"""

from __future__ import annotations

import re
import uuid

from bastion.exceptions import NotFound

MAX_KEY = 512
_KEY = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*(?:/[A-Za-z0-9_-][A-Za-z0-9._-]*)*")


def is_key(key: str) -> bool:
    return len(key) <= MAX_KEY and _KEY.fullmatch(key) is not None


def checked(key: str) -> str:
    """``key`` if it is one a storage could have made; else the 404 a missing file gets."""
    if not is_key(key):
        raise NotFound("No such file")
    return key


def new_key(prefix: str, extension: str) -> str:
    """A fresh random key under ``prefix`` (``avatars/``), ending in the sniffed type's
    extension so the type survives on a plain disk."""
    return f"{prefix}{uuid.uuid4().hex}{extension}"

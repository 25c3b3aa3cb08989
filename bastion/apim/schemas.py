"""The self-service API's bodies and answers (msgspec: validated and documented in OpenAPI)."""

from __future__ import annotations

import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

Label = Annotated[str, Meta(min_length=1, max_length=100, pattern=r"\S")]
Scope = Annotated[str, Meta(pattern=r"^[A-Za-z][A-Za-z0-9:._-]{0,63}$")]
Overlap = Annotated[int, Meta(ge=0, le=30 * 86400)]


class NewKey(msgspec.Struct, forbid_unknown_fields=True):
    """A key to create: its label and the scopes it grants (a subset of the app's)."""

    name: Label
    scopes: Annotated[list[Scope], Meta(max_length=32)] = []


class Relabel(msgspec.Struct, forbid_unknown_fields=True):
    name: Label


class Rotation(msgspec.Struct, forbid_unknown_fields=True):
    """How long the old key keeps working after the new one is issued (seconds, <= 30 days)."""

    overlap_seconds: Overlap = 86400


class KeyInfo(msgspec.Struct):
    """A key as its owner sees it: never the secret, only its public prefix."""

    id: int
    name: str
    prefix: str
    scopes: list[str]
    status: str
    created_at: datetime.datetime | None
    expires_at: datetime.datetime | None
    revoked_at: datetime.datetime | None


class CreatedKey(msgspec.Struct):
    """A new key: ``key`` is shown this once; store it now."""

    key: str
    info: KeyInfo


class RouteUsage(msgspec.Struct):
    route: str
    requests: int
    errors: int
    mean_ms: float


class DayUsage(msgspec.Struct):
    day: str
    requests: int
    errors: int
    mean_ms: float


class Usage(msgspec.Struct):
    """A user's usage over ``days`` days, by day and by route, across their keys."""

    since: str
    until: str
    requests: int
    errors: int
    days: list[DayUsage]
    routes: list[RouteUsage]
    keys: dict[str, int]

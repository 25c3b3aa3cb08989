"""The developer routes: key self-service and usage as JSON, the portal and usage pages.

Every route acts for the signed-in user on their own keys only; a key belonging to someone
else is a 404, as if it did not exist. Keys are managed from a session or token login, never
with an API key (a leaked key must not be able to mint more).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Annotated, Any

from sqlalchemy.ext.asyncio import AsyncSession

from bastion.apim import schemas as s
from bastion.apim.charts import bar_chart
from bastion.apim.store import MeterStore, UsageRow
from bastion.auth.apikeys import APIKey, APIKeyAuth
from bastion.auth.plugin import Authentication
from bastion.exceptions import Forbidden, NotFound, ValidationError
from bastion.http.request import Request
from bastion.http.response import HTMLResponse, Response
from bastion.params.markers import Query
from bastion.routing.router import Router

if TYPE_CHECKING:
    from bastion.templates import Templates

Days = Annotated[int, Query(ge=1, le=90)]


def owner_of(auth: Authentication, keys: APIKeyAuth) -> str:
    identity = auth.identity
    if identity is None:
        raise auth.unauthorized()
    if identity.backend == keys.name:
        raise Forbidden("API keys are managed from a signed-in session, not with an API key")
    return identity.subject


def info(record: APIKey, keys: APIKeyAuth, now: datetime.datetime) -> s.KeyInfo:
    expires = _aware(record.expires_at)
    if record.revoked_at is not None:
        status = "revoked"
    elif expires is not None and expires <= now:
        status = "expired"
    elif expires is not None:
        status = "expiring"
    else:
        status = "active"
    return s.KeyInfo(
        id=record.id,
        name=record.name,
        prefix=f"{keys.prefix}_{record.lookup}_…",
        scopes=list(record.scopes or ()),
        status=status,
        created_at=_aware(record.created_at),
        expires_at=expires,
        revoked_at=_aware(record.revoked_at),
    )


def summarize(rows: Iterable[UsageRow], days: list[str]) -> s.Usage:
    by_day = {d: [0, 0, 0] for d in days}
    by_route: dict[str, list[int]] = {}
    by_key: dict[str, int] = {}
    for row in rows:
        for bucket in (
            by_day.setdefault(row.day, [0, 0, 0]),
            by_route.setdefault(row.route, [0, 0, 0]),
        ):
            bucket[0] += row.requests
            bucket[1] += row.errors
            bucket[2] += row.micros
        by_key[row.key] = by_key.get(row.key, 0) + row.requests
    total = [sum(v[i] for v in by_day.values()) for i in range(3)]
    return s.Usage(
        since=days[0],
        until=days[-1],
        requests=total[0],
        errors=total[1],
        days=[s.DayUsage(d, r, e, _mean(m, r)) for d, (r, e, m) in sorted(by_day.items())],
        routes=[
            s.RouteUsage(route, r, e, _mean(m, r))
            for route, (r, e, m) in sorted(by_route.items(), key=lambda i: -i[1][0])
        ],
        keys=by_key,
    )


def developer_router(
    keys: APIKeyAuth,
    store: MeterStore,
    templates: Templates,
    *,
    prefix: str,
    scopes: Mapping[str, str],
    docs_url: str | None,
) -> Router:
    router = Router(prefix, tags=["developer"])

    async def find(db: AsyncSession, owner: str, key_id: int) -> APIKey:
        record = await db.get(APIKey, key_id)
        if record is None or record.owner != owner:
            raise NotFound(f"You have no API key {key_id}")
        return record

    async def usage_of(db: AsyncSession, owner: str, days: int) -> tuple[s.Usage, list[APIKey]]:
        records = await keys.owned_by(db, owner)
        today = datetime.datetime.now(datetime.UTC).date()
        names = [(today - datetime.timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]
        rows = await store.usage([r.lookup for r in records] + [f"user:{owner}"], names)
        return summarize(rows, names), records

    @router.get("/api/keys", summary="List your API keys")
    async def list_keys(auth: Authentication, db: AsyncSession) -> list[s.KeyInfo]:
        now = _now()
        return [info(r, keys, now) for r in await keys.owned_by(db, owner_of(auth, keys))]

    @router.post("/api/keys", status_code=201, summary="Create an API key (shown once)")
    async def create_key(body: s.NewKey, auth: Authentication, db: AsyncSession) -> s.CreatedKey:
        owner = owner_of(auth, keys)
        unknown = [n for n in body.scopes if scopes and n not in scopes]
        if unknown:
            raise ValidationError(
                [
                    {
                        "field": "body.scopes",
                        "reason": f"unknown scope {n!r}; choose from {', '.join(sorted(scopes))}",
                    }
                    for n in unknown
                ]
            )
        new = await keys.create(db, owner=owner, scopes=body.scopes, name=body.name.strip())
        await db.refresh(new.record)
        return s.CreatedKey(new.key, info(new.record, keys, _now()))

    @router.patch("/api/keys/{key_id:int}", summary="Relabel an API key")
    async def relabel_key(
        key_id: int, body: s.Relabel, auth: Authentication, db: AsyncSession
    ) -> s.KeyInfo:
        record = await find(db, owner_of(auth, keys), key_id)
        record.name = body.name.strip()
        await db.flush()
        return info(record, keys, _now())

    @router.post(
        "/api/keys/{key_id:int}/rotate",
        status_code=201,
        summary="Rotate an API key: a new key now, the old one valid for the overlap",
    )
    async def rotate_key(
        key_id: int, body: s.Rotation, auth: Authentication, db: AsyncSession
    ) -> s.CreatedKey:
        record = await find(db, owner_of(auth, keys), key_id)
        now = _now()
        if info(record, keys, now).status in ("revoked", "expired"):
            raise NotFound(
                f"API key {key_id} is {info(record, keys, now).status}; create a new one"
            )
        overlap = datetime.timedelta(seconds=body.overlap_seconds)
        new = await keys.rotate(db, record, overlap=overlap)
        await db.refresh(new.record)
        return s.CreatedKey(new.key, info(new.record, keys, now))

    @router.delete("/api/keys/{key_id:int}", status_code=204, summary="Revoke an API key now")
    async def revoke_key(key_id: int, auth: Authentication, db: AsyncSession) -> Response:
        record = await find(db, owner_of(auth, keys), key_id)
        await keys.revoke(db, record.id)
        return Response(b"", 204)

    @router.get("/api/usage", summary="Your usage by day and route")
    async def usage(auth: Authentication, db: AsyncSession, days: Days = 30) -> s.Usage:
        return (await usage_of(db, owner_of(auth, keys), days))[0]

    def page_context(summary: s.Usage) -> dict[str, Any]:
        return {
            "usage": summary,
            "requests_chart": bar_chart(
                [(d.day, d.requests) for d in summary.days],
                title="Requests per day",
                stacked=[d.errors for d in summary.days],
            ),
            "latency_chart": bar_chart(
                [(d.day, d.mean_ms) for d in summary.days], title="Mean latency per day", unit=" ms"
            ),
        }

    @router.get("", include_in_schema=False)
    async def portal(request: Request, auth: Authentication, db: AsyncSession) -> HTMLResponse:
        owner = owner_of(auth, keys)
        summary, records = await usage_of(db, owner, 14)
        now = _now()
        return templates.render(
            request,
            "apim/portal.html",
            {
                **page_context(summary),
                "keys": [info(r, keys, now) for r in records],
                "user": owner,
                "docs_url": docs_url,
                "prefix": prefix,
                "header": keys.header,
                "scopes": scopes,
            },
        )

    @router.get("/usage", include_in_schema=False)
    async def usage_page(
        request: Request, auth: Authentication, db: AsyncSession, days: Days = 30
    ) -> HTMLResponse:
        summary, _ = await usage_of(db, owner_of(auth, keys), days)
        return templates.render(
            request,
            "apim/usage.html",
            {**page_context(summary), "prefix": prefix, "docs_url": docs_url, "days": days},
        )

    return router


def _mean(micros: int, requests: int) -> float:
    return round(micros / requests / 1000, 2) if requests else 0.0


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _aware(moment: datetime.datetime | None) -> datetime.datetime | None:
    """SQLite hands back naive datetimes; they were stored in UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=datetime.UTC)

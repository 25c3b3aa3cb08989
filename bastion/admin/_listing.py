"""A list page's query: the search, filters and sort read from the query string, checked
against the registration (anything else is a 422 naming the parameter), then a count and one
page query, ordered by the sort column and the primary key so pages are stable and an index on
the sort column serves them. Foreign keys shown in the list are named by one query per column
for the whole page, never one per row.

Counting is what makes a big list slow, not showing it: an exact COUNT reads every row of a
100,000-row table (14 ms), or every row a search matches (240 ms for an ``ILIKE`` over two
columns), on every page. So an unfiltered list of a big PostgreSQL table shows the planner's
estimate (``pg_class.reltuples``, "about 100,000 rows"), and a filtered or searched list counts
at most ``COUNT_CAP`` rows ("more than 1,000 rows"); small tables and narrow results are counted
exactly, and whether a next page exists is known from the page query itself (one row more).
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only, raiseload

from bastion.admin.options import Column, ModelAdmin
from bastion.exceptions import ValidationError
from bastion.http.headers import QueryParams
from bastion.i18n import gettext as _

MAX_QUERY = 200
MAX_TERMS = 10
FILTER_PREFIX = "f."
#: How many choices a filter on a foreign key or a plain column offers.
MAX_CHOICES = 100
#: An unfiltered list shows PostgreSQL's estimate of its rows from this many (a table the
#: planner has never analysed estimates -1, and is counted).
ESTIMATE_FROM = 20_000
#: A filtered or searched list counts at most this many rows.
COUNT_CAP = 1_000


@dataclass
class Listing:
    """What the list template shows."""

    rows: list[Any]
    count: int
    page: int
    #: None when the count is an estimate or capped: the page numbers are not known.
    pages: int | None
    query: str
    sort: str
    active: dict[str, str]
    labels: dict[str, dict[Any, str]] = field(default_factory=dict)
    #: ``exact``, ``about`` (the planner's estimate) or ``over`` (more than ``count``).
    counted: str = "exact"
    has_next: bool = False


def bad(parameter: str, reason: str) -> ValidationError:
    return ValidationError([{"field": f"query.{parameter}", "reason": reason}])


def date_presets() -> list[tuple[str, str]]:
    return [
        ("today", _("Today")),
        ("7d", _("Past 7 days")),
        ("30d", _("Past 30 days")),
        ("year", _("This year")),
    ]


def _since(preset: str) -> datetime.datetime:
    now = datetime.datetime.now(datetime.UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "today": today,
        "7d": now - datetime.timedelta(days=7),
        "30d": now - datetime.timedelta(days=30),
        "year": today.replace(month=1, day=1),
    }[preset]


def read_params(admin: ModelAdmin, params: QueryParams) -> tuple[str, str, dict[str, str], int]:
    """The search text, sort key, filters and page number, each checked."""
    allowed = {"q", "sort", "page"}
    for key in params:
        if key not in allowed and not key.startswith(FILTER_PREFIX):
            raise bad(key, _("is not a parameter of this list"))
    query = params.get("q", "").strip()
    if len(query) > MAX_QUERY:
        raise bad("q", _("must be at most %(n)d characters") % {"n": MAX_QUERY})
    if query and not admin.search:
        raise bad("q", _("this list has no search"))
    sort = params.get("sort", "")
    if sort:
        key = sort[1:] if sort.startswith("-") else sort
        if key not in {c.key for c in admin.list_display}:
            raise bad("sort", _("cannot sort by %(key)s") % {"key": key[:50]})
    raw_page = params.get("page", "1")
    if not raw_page.isdigit() or len(raw_page) > 9 or int(raw_page) < 1:
        raise bad("page", _("must be a whole number from 1"))
    filters = {c.key: c for c in admin.filters}
    active: dict[str, str] = {}
    for key in params:
        if key.startswith(FILTER_PREFIX):
            name = key[len(FILTER_PREFIX) :]
            if name not in filters:
                raise bad(key, _("cannot filter by %(key)s") % {"key": name[:50]})
            active[name] = params[key]
    return query, sort, active, int(raw_page)


def filter_clause(column: Column, value: str, parameter: str) -> sa.ColumnElement[bool]:
    """The WHERE condition of one filter; a value it cannot mean is a 422."""
    target = column.column
    if column.kind == "bool":
        if value not in ("1", "0"):
            raise bad(parameter, _("must be 1 or 0"))
        return target.is_(value == "1")
    if column.kind in ("date", "datetime"):
        if value not in {k for k, _label in date_presets()}:
            raise bad(parameter, _("must be one of today, 7d, 30d, year"))
        since = _since(value)
        return target >= (since.date() if column.kind == "date" else since)
    if column.kind == "choices":
        if value not in {k for k, _label in column.choices}:
            raise bad(parameter, _("is not one of the choices"))
        return target == value
    if value == "":
        return target.is_(None)
    try:
        typed = target.type.python_type(value) if column.kind in ("fk", "number") else value
    except (TypeError, ValueError, NotImplementedError):
        raise bad(parameter, _("is not a valid value")) from None
    if len(value) > 255:
        raise bad(parameter, _("is too long"))
    return target == typed


def search_clause(admin: ModelAdmin, query: str) -> sa.ColumnElement[bool] | None:
    """Every word must appear in one of the searched columns (case-insensitive; ``%`` and
    ``_`` in the words are matched literally, and the words are bound parameters)."""
    words = query.split()[:MAX_TERMS]
    if not words:
        return None
    return sa.and_(
        *(
            sa.or_(*(c.column.icontains(word, autoescape=True) for c in admin.search))
            for word in words
        )
    )


async def list_rows(
    admin: ModelAdmin, db: AsyncSession, params: QueryParams, registry: Registry
) -> Listing:
    query, sort, active, page = read_params(admin, params)
    where: list[sa.ColumnElement[bool]] = []
    found = search_clause(admin, query)
    if found is not None:
        where.append(found)
    columns = {c.key: c for c in admin.filters}
    for name, value in active.items():
        where.append(filter_clause(columns[name], value, FILTER_PREFIX + name))
    count, counted = await _count(admin, db, where)
    pages = max(1, -(-count // admin.per_page)) if counted == "exact" else None
    if pages is not None:
        page = min(page, pages)
    order: list[Any] = []
    if sort:
        key = sort.lstrip("-")
        column = next(c for c in admin.list_display if c.key == key)
        order.append(column.column.desc() if sort.startswith("-") else column.column.asc())
    else:
        for column, descending in admin.ordering:
            order.append(column.column.desc() if descending else column.column.asc())
    last_desc = bool(order) and (sort.startswith("-") if sort else admin.ordering[-1][1])
    order.append(admin.pk.desc() if last_desc else admin.pk.asc())
    statement = (
        sa.select(admin.model)
        .options(*_list_columns(admin), raiseload("*"))
        .where(*where)
        .order_by(*order)
        .limit(admin.per_page + 1)  # one more: is there a next page?
        .offset((page - 1) * admin.per_page)
    )
    rows = list((await db.scalars(statement)).all())
    has_next = len(rows) > admin.per_page
    del rows[admin.per_page :]
    listing = Listing(rows, count, page, pages, query, sort, active, {}, counted, has_next)
    for column in admin.list_display:
        if column.kind == "fk" and column.target is not None:
            ids = {getattr(r, _attr(admin, column)) for r in rows} - {None}
            listing.labels[column.key] = await labels_of(db, column.target, ids, registry)
    return listing


async def _count(
    admin: ModelAdmin, db: AsyncSession, where: list[sa.ColumnElement[bool]]
) -> tuple[int, str]:
    """The rows the list holds, and how they were counted (see the module's docstring)."""
    if not where:
        estimate = await _estimate(admin, db)
        if estimate is not None and estimate >= ESTIMATE_FROM:
            return estimate, "about"
        total = await db.scalar(sa.select(sa.func.count()).select_from(admin.table))
        return int(total or 0), "exact"
    capped = sa.select(sa.literal(1)).select_from(admin.table).where(*where).limit(COUNT_CAP + 1)
    total = int(await db.scalar(sa.select(sa.func.count()).select_from(capped.subquery())) or 0)
    if total > COUNT_CAP:
        return COUNT_CAP, "over"
    return total, "exact"


async def _estimate(admin: ModelAdmin, db: AsyncSession) -> int | None:
    """PostgreSQL's estimate of the table's rows (kept by ANALYZE and autovacuum), or None
    on other databases."""
    dialect = db.get_bind().dialect
    if dialect.name != "postgresql":
        return None
    name = dialect.identifier_preparer.format_table(admin.table)
    found = await db.scalar(
        sa.text("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(:name)"),
        {"name": name},
    )
    return None if found is None else int(found)


def _attr(admin: ModelAdmin, column: Column) -> str:
    return admin.mapper.get_property_by_column(column.column).key


def _list_columns(admin: ModelAdmin) -> list[Any]:
    """``load_only`` of what the list shows (key, columns, the row's name), so the page query
    neither reads nor sorts wide columns it never shows (a body, a JSON document); nothing
    when a function names the rows, as it may read any attribute."""
    if admin.display_fn is not None:
        return []
    shown = [admin.pk, *(c.column for c in admin.list_display)]
    if admin.display_key is not None:
        shown.append(admin.columns[admin.display_key].column)
    names = dict.fromkeys(admin.mapper.get_property_by_column(c).key for c in shown)
    return [load_only(*(getattr(admin.model, name) for name in names))]


#: A site's registration of each model, for naming the rows a key points to.
Registry = Mapping[type, ModelAdmin]


async def labels_of(
    db: AsyncSession, model: type, ids: set[Any] | None, registry: Registry
) -> dict[Any, str]:
    """``{pk: name}`` for rows of ``model`` (those in ``ids``, or the first ``MAX_CHOICES``),
    in one query; only the key and naming column are read when the model names rows by one."""
    if ids is not None and not ids:
        return {}
    registered = registry.get(model) or ModelAdmin(model)
    pk = registered.pk
    if registered.display_key is not None and registered.display_fn is None:
        naming = registered.columns[registered.display_key].column
        statement: Any = sa.select(pk, naming)
        if ids is not None:
            statement = statement.where(pk.in_(ids))
        else:
            statement = statement.order_by(naming).limit(MAX_CHOICES)
        return {
            key: str(name) if name not in (None, "") else f"{registered.label} {key}"
            for key, name in (await db.execute(statement)).all()
        }
    statement = sa.select(model).options(raiseload("*"))
    statement = (
        statement.where(pk.in_(ids))
        if ids is not None
        else statement.order_by(pk).limit(MAX_CHOICES)
    )
    return {
        getattr(r, registered.pk_key): registered.repr(r) for r in (await db.scalars(statement))
    }


async def filter_choices(
    admin: ModelAdmin, db: AsyncSession, registry: Registry
) -> Mapping[str, Sequence[tuple[str, str]]]:
    """Each filter's choices, as (value, label) pairs."""
    out: dict[str, Sequence[tuple[str, str]]] = {}
    for column in admin.filters:
        if column.kind == "bool":
            out[column.key] = [("1", _("Yes")), ("0", _("No"))]
        elif column.kind in ("date", "datetime"):
            out[column.key] = date_presets()
        elif column.kind == "choices":
            out[column.key] = list(column.choices)
        elif column.kind == "fk" and column.target is not None:
            labels = await labels_of(db, column.target, None, registry)
            out[column.key] = [(str(k), v) for k, v in labels.items()]
        else:
            out[column.key] = await _distinct_values(db, column)
    return out


#: A plain column's values for its filter, per column and database, with when they were read.
_VALUES: dict[tuple[Any, str], tuple[float, list[tuple[str, str]]]] = {}
#: Seconds a column's values are reused: a DISTINCT reads the whole table (45 ms on 100,000
#: rows), too much for every page of a list; a new value shows within this time.
VALUES_MAX_AGE = 60.0


async def _distinct_values(db: AsyncSession, column: Column) -> list[tuple[str, str]]:
    key = (column.column, str(db.get_bind().engine.url))
    now = time.monotonic()
    kept = _VALUES.get(key)
    if kept is not None and now - kept[0] < VALUES_MAX_AGE:
        return kept[1]
    values = await db.scalars(
        sa.select(column.column).distinct().order_by(column.column).limit(MAX_CHOICES)
    )
    found = [("" if v is None else str(v), str(v)) for v in values]
    _VALUES[key] = (now, found)
    return found

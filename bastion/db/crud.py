"""``CRUDRouter(Book)``: list, read, create, replace, update and delete for a model.

Listing takes ``limit``/``offset`` (offset pagination) or ``after`` (keyset on the primary
key, stable under inserts), ``sort`` from an allow-list (``-title`` for descending, the
primary key always breaks ties) and equality filters on allow-listed columns; it answers a
page (``items``, ``total``, ``next``, ``prev``). User input only ever reaches SQL as bound
parameters or as one of the allow-listed column names, and every integer parameter is
bounded by its column's type, so a value no row can have is a 404 (an id) or a 422.

The router is open where applications differ: which operations exist, dependencies and
guards per operation, the current user, a policy that authorizes each row, a scope that
narrows what a request sees, and hooks that set fields from the request (the owner).

Single items carry an ``ETag`` (a hash of the item as the client sees it), and replace,
update and delete honour ``If-Match`` with it: a client that read an older version gets 412
instead of overwriting someone else's change (optimistic concurrency, as with Rails'
``lock_version``).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bastion.db._crud_spec import OPERATIONS, Authorize, Operation, Spec, declare
from bastion.db._pages import around
from bastion.db.schemas import ModelSchemas, given_fields
from bastion.exceptions import NotFound, PreconditionFailed, ValidationError
from bastion.http.preconditions import body_etag, listed_etags
from bastion.http.request import Request
from bastion.http.response import JSONResponse
from bastion.pagination import Page, PageResponse
from bastion.routing.router import Router


@dataclass(frozen=True, slots=True)
class CRUDContext:
    """What hooks and scopes learn of the request: ``user`` is the value of the router's
    ``user=`` parameter (None without one)."""

    request: Request
    db: AsyncSession
    user: Any
    operation: Operation


#: ``before_create(ctx, row)``, ``before_update(ctx, row)``: set fields before the flush.
Hook = Callable[[CRUDContext, Any], Awaitable[None] | None]
#: ``scope(ctx)``: a condition rows must meet to be listed, read, changed or deleted.
Scope = Callable[[CRUDContext], ColumnElement[bool] | None]


def CRUDRouter(
    model: type[Any],
    *,
    prefix: str | None = None,
    tags: Sequence[str] | None = None,
    schemas: ModelSchemas | None = None,
    filters: Sequence[str] = (),
    sort: Sequence[str] = (),
    page_size: int = 20,
    max_page_size: int = 100,
    operations: Iterable[Operation] = OPERATIONS,
    dependencies: Sequence[Any] = (),
    guards: Mapping[Operation, Sequence[Any]] | None = None,
    user: Any = None,
    authorize: Authorize | None = None,
    scope: Scope | None = None,
    before_create: Hook | None = None,
    before_update: Hook | None = None,
    envelope: bool = True,
) -> Router:
    """A ``Router`` with the CRUD routes of ``model`` (a ``bastion.db.Model``); every option
    is described, with an example, in docs/database.md."""
    spec = Spec(model, schemas, filters, sort, operations, guards, user, authorize)
    router = Router(
        prefix or f"/{spec.table}", tags=list(tags or [spec.name]), dependencies=dependencies
    )
    model_name, pk_name = model.__name__, spec.pk_name
    read = spec.schemas.read
    page = Page[read]  # type: ignore[valid-type]

    def to_read(row: Any) -> Any:
        return msgspec.convert(row, read, from_attributes=True)

    def tagged(item: Any, status: int = 200) -> JSONResponse:
        """The item as JSON with a strong ETag of exactly those bytes."""
        response = JSONResponse(item, status)
        response.raw_headers.append((b"etag", body_etag(response.body).encode()))
        return response

    def context(kwargs: dict[str, Any], operation: Operation) -> CRUDContext:
        return CRUDContext(kwargs["request"], kwargs["db"], kwargs.get("user"), operation)

    async def allowed(ctx: CRUDContext, action: str, row: Any) -> None:
        if authorize is not None:
            outcome = authorize(ctx.user, action, row)
            if inspect.isawaitable(outcome):
                await outcome

    async def run(hook: Hook | None, ctx: CRUDContext, row: Any) -> None:
        if hook is not None:
            outcome = hook(ctx, row)
            if inspect.isawaitable(outcome):
                await outcome

    async def fetch(ctx: CRUDContext, ident: Any, check_version: bool) -> Any:
        """The row in scope, or 404; 403 unless the policy allows the operation; 412 unless
        an If-Match names the row as it is."""
        bounds = spec.pk_bounds
        if bounds is not None and not bounds[0] <= ident <= bounds[1]:
            raise NotFound(f"{model_name} {ident} does not exist")  # no row can have it
        condition = scope(ctx) if scope is not None else None
        if condition is None:
            row = await ctx.db.get(model, ident)
        else:
            query = select(model).where(spec.pk_column == ident, condition)
            row = (await ctx.db.scalars(query)).first()
        if row is None:
            raise NotFound(f"{model_name} {ident} does not exist")
        await allowed(ctx, ctx.operation, row)
        expected = ctx.request.headers.get("if-match") if check_version else None
        if expected is not None:
            current = body_etag(JSONResponse(to_read(row)).body)
            tags = listed_etags(expected)
            if "*" not in tags and current not in tags:  # strong comparison
                raise PreconditionFailed(
                    f"{model_name} {ident} changed since you read it (its ETag is now "
                    f"{current}): read it again and retry"
                )
        return row

    async def list_rows(**kwargs: Any) -> Any:
        ctx = context(kwargs, "list")
        limit, offset, after, order = (
            kwargs["limit"],
            kwargs["offset"],
            kwargs["after"],
            kwargs["sort"],
        )
        conditions = [spec.columns[f] == kwargs[f] for f in spec.filters if kwargs[f] is not None]
        narrowed = scope(ctx) if scope is not None else None
        if narrowed is not None:
            conditions.append(narrowed)
        query = select(model).where(*conditions)
        if order is not None:
            if after is not None:
                raise ValidationError(
                    [
                        {
                            "field": "query.after",
                            "reason": "`after` pages by primary key: drop `sort`",
                        }
                    ]
                )
            if order not in spec.sort_choices:
                raise ValidationError(
                    [
                        {
                            "field": "query.sort",
                            "reason": f"Expected one of {', '.join(spec.sort_choices)}",
                        }
                    ]
                )
            column = spec.columns[order.lstrip("-")]
            query = query.order_by(column.desc() if order.startswith("-") else column.asc())
        paged: Select[Any] = query
        if after is not None:
            paged = paged.where(spec.pk_column > after)
        paged = paged.order_by(spec.pk_column).limit(limit + 1).offset(offset)
        rows = list(await ctx.db.scalars(paged))
        more = len(rows) > limit
        items = [to_read(row) for row in rows[:limit]]
        last = getattr(rows[limit - 1], pk_name) if more else None
        following, previous = around(ctx.request, limit, offset, after, more, last)
        if not envelope:
            return PageResponse(Page(items, None, following, previous), envelope=False)
        counted = select(func.count()).select_from(model).where(*conditions)
        total = int(await ctx.db.scalar(counted) or 0)
        return Page(items, total, following, previous)

    async def read_row(**kwargs: Any) -> Any:
        ctx = context(kwargs, "read")
        return tagged(to_read(await fetch(ctx, kwargs[pk_name], False)))

    async def create_row(**kwargs: Any) -> Any:
        ctx = context(kwargs, "create")
        row = model(**given_fields(kwargs["data"]))
        await run(before_create, ctx, row)
        await allowed(ctx, "create", row)
        ctx.db.add(row)
        await ctx.db.flush()
        return tagged(to_read(row), 201)

    def changer() -> Callable[..., Awaitable[Any]]:
        """A handler for PUT or PATCH (each gets its own, as its signature differs): the
        fields sent are set, then the hook runs."""

        async def change_row(**kwargs: Any) -> Any:
            ctx = context(kwargs, "update")
            row = await fetch(ctx, kwargs[pk_name], True)
            for key, value in given_fields(kwargs["data"]).items():
                setattr(row, key, value)
            await run(before_update, ctx, row)
            await ctx.db.flush()
            return tagged(to_read(row))

        return change_row

    async def delete_row(**kwargs: Any) -> None:
        ctx = context(kwargs, "delete")
        await ctx.db.delete(await fetch(ctx, kwargs[pk_name], True))

    item = "/{" + pk_name + "}"
    stale: dict[int, Any] = {412: "If-Match names an older version of the item"}
    listed = page if envelope else list[read]  # type: ignore[valid-type]
    routes: list[tuple[Operation, str, str, Any, Any, Any, dict[int, Any]]] = [
        ("list", "GET", "/", list_rows, None, listed, {}),
        ("read", "GET", item, read_row, None, read, {}),
        ("create", "POST", "/", create_row, spec.schemas.create, read, {}),
        ("update", "PUT", item, changer(), spec.schemas.create, read, stale),
        ("update", "PATCH", item, changer(), spec.schemas.update, read, stale),
        ("delete", "DELETE", item, delete_row, None, None, stale),
    ]
    verbs = {"list": "list", "read": "get", "PUT": "replace", "PATCH": "update"}
    for operation, method, path, fn, body, returns, responses in routes:
        if operation not in spec.operations:
            continue
        parameters = spec.parameters(operation, body, page_size, max_page_size)
        verb = verbs.get(method, verbs.get(operation, operation))
        declare(fn, f"{verb}_{spec.name}{'s' if operation == 'list' else ''}", parameters, returns)
        router.route(
            path, (method,), dependencies=list(spec.guards.get(operation, ())), responses=responses
        )(fn)
    return router

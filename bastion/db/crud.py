"""``CRUDRouter(Book)``: list, get, create, replace, update and delete for a model.

Listing takes ``limit``/``offset`` (offset pagination) or ``after`` (keyset on the primary
key, stable under inserts), ``sort`` from an allow-list (``-title`` for descending, the
primary key always breaks ties) and equality filters on allow-listed columns. User input only
ever reaches SQL as bound parameters or as one of the allow-listed column names.

Single items carry an ``ETag`` (a hash of the item as the client sees it), and replace,
update and delete honour ``If-Match`` with it: a client that read an older version gets 412
instead of overwriting someone else's change (optimistic concurrency, as with Rails'
``lock_version``).
"""

import inspect
from collections.abc import Sequence
from typing import Annotated, Any

import msgspec
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bastion.db.schemas import ModelSchemas, given_fields, schemas_for
from bastion.exceptions import ConfigurationError, NotFound, PreconditionFailed, ValidationError
from bastion.http.preconditions import body_etag, listed_etags
from bastion.http.request import Request
from bastion.http.response import JSONResponse
from bastion.params.markers import Query
from bastion.routing.router import Router


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
) -> Router:
    """A ``Router`` with the six CRUD routes for ``model`` (a ``bastion.db.Model``)."""
    schemas = schemas or schemas_for(model)
    mapper = sa_inspect(model)
    if len(mapper.primary_key) != 1:
        raise ConfigurationError(f"CRUDRouter({model.__name__}) needs a single-column primary key")
    pk = mapper.primary_key[0]
    pk_type = pk.type.python_type
    columns = {c.key: c for c in mapper.column_attrs}
    for name in [*filters, *sort]:
        if name not in columns:
            raise ConfigurationError(
                f"CRUDRouter({model.__name__}): no column {name!r} to filter or sort by; "
                f"columns: {', '.join(sorted(columns))}"
            )
    name = model.__name__.lower()
    router = Router(prefix or f"/{mapper.local_table.name}", tags=list(tags or [name]))
    read: Any = schemas.read
    create, update = schemas.create, schemas.update
    sort_choices = [*sort, *(f"-{s}" for s in sort)]

    def to_read(row: Any) -> Any:
        return msgspec.convert(row, read, from_attributes=True)

    def tagged(item: Any, status: int = 200) -> JSONResponse:
        """The item as JSON with a strong ETag of exactly those bytes."""
        response = JSONResponse(item, status)
        response.raw_headers.append((b"etag", body_etag(response.body).encode()))
        return response

    async def fetch(db: AsyncSession, ident: Any, request: Request | None = None) -> Any:
        """The row, or 404; with ``request``, 412 unless its If-Match names the row as it is."""
        row = await db.get(model, ident)
        if row is None:
            raise NotFound(f"{model.__name__} {ident} does not exist")
        expected = request.headers.get("if-match") if request is not None else None
        if expected is not None:
            current = body_etag(JSONResponse(to_read(row)).body)
            tags = listed_etags(expected)
            if "*" not in tags and current not in tags:  # strong comparison
                raise PreconditionFailed(
                    f"{model.__name__} {ident} changed since you read it (its ETag is now "
                    f"{current}): read it again and retry"
                )
        return row

    async def list_rows(
        db: AsyncSession, limit: int, offset: int, after: Any, sort: str | None, **where: Any
    ) -> list[Any]:
        query = select(model)
        for column, value in where.items():
            if value is not None:
                query = query.where(getattr(model, column) == value)
        if sort is not None:
            if after is not None:
                raise ValidationError(
                    [
                        {
                            "field": "query.after",
                            "reason": "`after` pages by primary key: drop `sort`",
                        }
                    ]
                )
            if sort not in sort_choices:
                raise ValidationError(
                    [
                        {
                            "field": "query.sort",
                            "reason": f"Expected one of {', '.join(sort_choices)}",
                        }
                    ]
                )
            column = getattr(model, sort.lstrip("-"))
            query = query.order_by(column.desc() if sort.startswith("-") else column.asc())
        elif after is not None:
            query = query.where(getattr(model, pk.key) > after)
        query = query.order_by(getattr(model, pk.key)).limit(limit).offset(offset)
        return [to_read(row) for row in await db.scalars(query)]

    parameters = [
        inspect.Parameter("db", inspect.Parameter.KEYWORD_ONLY, annotation=AsyncSession),
        inspect.Parameter(
            "limit",
            inspect.Parameter.KEYWORD_ONLY,
            default=page_size,
            annotation=Annotated[int, Query(ge=1, le=max_page_size)],
        ),
        inspect.Parameter(
            "offset",
            inspect.Parameter.KEYWORD_ONLY,
            default=0,
            annotation=Annotated[int, Query(ge=0)],
        ),
        inspect.Parameter(
            "after", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=pk_type | None
        ),
        inspect.Parameter(
            "sort", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=str | None
        ),
        *(
            inspect.Parameter(
                f,
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=columns[f].columns[0].type.python_type | None,
            )
            for f in filters
        ),
    ]
    list_rows.__signature__ = inspect.Signature(parameters, return_annotation=list[read])  # type: ignore[attr-defined]
    list_rows.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": list[read]}
    list_rows.__name__ = list_rows.__qualname__ = f"list_{name}s"
    router.get("/")(list_rows)

    async def get_row(ident: Any, db: AsyncSession) -> Any:
        return tagged(to_read(await fetch(db, ident)))

    async def create_row(data: Any, db: AsyncSession) -> Any:
        row = model(**msgspec.structs.asdict(data))
        db.add(row)
        await db.flush()
        return tagged(to_read(row), 201)

    async def replace_row(ident: Any, data: Any, db: AsyncSession, request: Request) -> Any:
        row = await fetch(db, ident, request)
        for key, value in msgspec.structs.asdict(data).items():
            setattr(row, key, value)
        await db.flush()
        return tagged(to_read(row))

    async def update_row(ident: Any, data: Any, db: AsyncSession, request: Request) -> Any:
        row = await fetch(db, ident, request)
        for key, value in given_fields(data).items():
            setattr(row, key, value)
        await db.flush()
        return tagged(to_read(row))

    async def delete_row(ident: Any, db: AsyncSession, request: Request) -> None:
        await db.delete(await fetch(db, ident, request))

    for fn, body in (
        (get_row, None),
        (create_row, create),
        (replace_row, create),
        (update_row, update),
        (delete_row, None),
    ):
        hints: dict[str, Any] = {"db": AsyncSession}
        parameters_of = inspect.signature(fn).parameters
        if "ident" in parameters_of:
            hints["ident"] = pk_type
        if "request" in parameters_of:
            hints["request"] = Request
        if body is not None:
            hints["data"] = body
        hints["return"] = None if fn is delete_row else read
        fn.__annotations__ = hints
        fn.__name__ = fn.__qualname__ = f"{fn.__name__.split('_')[0]}_{name}"
    item = "/{ident}"
    router.get(item)(get_row)
    router.post("/")(create_row)
    stale = {412: "If-Match names an older version of the item"}
    router.put(item, responses=stale)(replace_row)
    router.patch(item, responses=stale)(update_row)
    router.delete(item, responses=stale)(delete_row)
    return router

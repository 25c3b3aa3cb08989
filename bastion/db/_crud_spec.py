"""What ``CRUDRouter`` checks and derives from the model and its options at start-up: the
columns, the primary key and its bounds, and each generated handler's parameters."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Annotated, Any, Literal, get_origin

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncSession

from bastion.db.schemas import ModelSchemas, integer_range, schemas_for
from bastion.di.depends import Depends
from bastion.exceptions import ConfigurationError
from bastion.http.request import Request
from bastion.params.markers import Query

Operation = Literal["list", "read", "create", "update", "delete"]
OPERATIONS: tuple[Operation, ...] = ("list", "read", "create", "update", "delete")
#: ``authorize(user, action, row)``: raises (401/403) unless the user may; e.g.
#: ``bastion.auth.authorize`` with a ``Policy`` registered for the model.
Authorize = Callable[[Any, str, Any], Any]
#: The largest OFFSET every database takes (a signed 64-bit integer).
MAX_OFFSET = (1 << 63) - 1
_RESERVED = {"db", "request", "user", "data", "limit", "offset", "after", "sort"}


class Spec:
    """What ``CRUDRouter`` checks and derives from the model and its options at start-up."""

    def __init__(
        self,
        model: type[Any],
        schemas: ModelSchemas | None,
        filters: Sequence[str],
        sort: Sequence[str],
        operations: Iterable[Operation],
        guards: Mapping[Operation, Sequence[Any]] | None,
        user: Any,
        authorize: Authorize | None,
    ) -> None:
        where = f"CRUDRouter({model.__name__})"
        mapper = sa_inspect(model)
        if len(mapper.primary_key) != 1:
            raise ConfigurationError(f"{where} needs a single-column primary key")
        self.schemas = schemas or schemas_for(model)
        self.name = model.__name__.lower()
        self.table = mapper.local_table.name
        self.columns = {c.key: getattr(model, c.key) for c in mapper.column_attrs}
        pk = mapper.primary_key[0]
        self.pk_name = next(c.key for c in mapper.column_attrs if pk in c.columns)
        self.pk_column = self.columns[self.pk_name]
        self.pk_type: Any = pk.type.python_type
        self.pk_bounds = integer_range(pk.type) if self.pk_type is int else None
        for name in [*filters, *sort]:
            if name not in self.columns:
                raise ConfigurationError(
                    f"{where}: no column {name!r} to filter or sort by; "
                    f"columns: {', '.join(sorted(self.columns))}"
                )
        for name in [*filters, self.pk_name]:
            if name in _RESERVED:
                raise ConfigurationError(
                    f"{where}: the column {name!r} shares its name with a parameter of the "
                    f"routes ({', '.join(sorted(_RESERVED))}); give the attribute another "
                    "name (mapped_column('name', ...) keeps the column's)"
                )
        self.filters = list(filters)
        self.sort_choices = [*sort, *(f"-{s}" for s in sort)]
        self.operations = set(operations)
        for operation in [*self.operations, *(guards or {})]:
            if operation not in OPERATIONS:
                raise ConfigurationError(
                    f"{where}: unknown operation {operation!r}; operations: {', '.join(OPERATIONS)}"
                )
        self.guards = dict(guards or {})
        if authorize is not None and user is None:
            raise ConfigurationError(
                f"{where}: authorize= needs to know who asks: pass user=CurrentUser (or "
                "OptionalUser) from bastion.auth"
            )
        self.user = _as_annotation(user) if user is not None else None

    def parameters(
        self, operation: Operation, body: Any, page_size: int, max_page_size: int
    ) -> list[inspect.Parameter]:
        """The handler's parameters, resolved like any handler's (DI, path, query, body)."""
        keyword = inspect.Parameter.KEYWORD_ONLY
        result = [
            inspect.Parameter("db", keyword, annotation=AsyncSession),
            inspect.Parameter("request", keyword, annotation=Request),
        ]
        if self.user is not None:
            result.append(inspect.Parameter("user", keyword, annotation=self.user))
        if operation == "list":
            result += [
                _query("limit", page_size, int, ge=1, le=max_page_size),
                _query("offset", 0, int, ge=0, le=MAX_OFFSET),
                _query("after", None, self.pk_type | None, *_bounds(self.pk_bounds)),
                _query("sort", None, str | None),
            ]
            for name in self.filters:
                column = self.columns[name].property.columns[0]
                python_type = column.type.python_type
                bounds = integer_range(column.type) if python_type is int else None
                result.append(_query(name, None, python_type | None, *_bounds(bounds)))
        elif operation != "create":
            result.append(inspect.Parameter(self.pk_name, keyword, annotation=self.pk_type))
        if body is not None:
            result.append(inspect.Parameter("data", keyword, annotation=body))
        return result


def _bounds(bounds: tuple[int, int] | None) -> tuple[int | None, int | None]:
    return bounds if bounds is not None else (None, None)


def _query(
    name: str, default: Any, annotation: Any, ge: int | None = None, le: int | None = None
) -> inspect.Parameter:
    marker = Query(ge=ge, le=le) if ge is not None or le is not None else Query()
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=default,
        annotation=Annotated[annotation, marker],
    )


def _as_annotation(user: Any) -> Any:
    """``user=CurrentUser`` (an annotation) or ``user=current_user`` (a dependency)."""
    if get_origin(user) is Annotated or isinstance(user, type):
        return user
    if callable(user):
        return Annotated[Any, Depends(user)]
    raise ConfigurationError(
        f"CRUDRouter user={user!r}: pass an annotation such as CurrentUser, or a dependency"
    )


def declare(
    fn: Callable[..., Any], name: str, parameters: list[inspect.Parameter], returns: Any
) -> None:
    """Give a generated handler its name, signature and annotations, as if written out."""
    fn.__signature__ = inspect.Signature(parameters, return_annotation=returns)  # type: ignore[attr-defined]
    fn.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": returns}
    fn.__name__ = fn.__qualname__ = name

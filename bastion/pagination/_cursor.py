"""Cursor (keyset) pagination: ``?cursor=…&size=50``, stable while rows are inserted.

A page continues after (or, going back, before) the sort key of the row that ended the one
before it, with the primary key appended as the tie-breaker: ``WHERE (published, id) >
(:p, :i)`` in spirit, spelt as ORs so mixed directions work. Rows inserted meanwhile never
shift a page, and an index on the key serves any depth, unlike OFFSET.
"""

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression

from bastion.di.depends import Depends
from bastion.exceptions import ConfigurationError
from bastion.http.request import Request
from bastion.pagination._bounds import size_param, wanted_size
from bastion.pagination._links import link
from bastion.pagination._page import Page
from bastion.pagination._rows import count, fetch, shaped
from bastion.pagination._signing import bad_cursor, sign, unsign
from bastion.params.markers import Query

#: A cursor is a few hundred characters at most; anything longer is refused unread.
MAX_CURSOR = 2048


@dataclass(frozen=True, slots=True)
class _Key:
    column: Any
    descending: bool
    python_type: Any


def keyset(order: Sequence[Any]) -> list[_Key]:
    """The sort key (``Book.published.desc()``, ``Book.id``) with the table's primary key
    appended when missing; refuses nullable columns, which no keyset comparison orders."""
    keys: list[_Key] = []
    for element in order:
        descending = False
        if isinstance(element, UnaryExpression) and element.modifier in (
            operators.desc_op,
            operators.asc_op,
        ):
            descending = element.modifier is operators.desc_op
            element = element.element
        column = element.__clause_element__() if hasattr(element, "__clause_element__") else element
        keys.append(_Key(column, descending, _python_type(column)))
    table = getattr(keys[0].column, "table", None) if keys else None
    if table is None:
        raise ConfigurationError("cursor pagination: order= needs at least one table column")
    named = {(getattr(k.column, "table", None), k.column.key) for k in keys}
    for pk in table.primary_key.columns:
        if (table, pk.key) not in named:
            keys.append(_Key(pk, False, _python_type(pk)))
    for key in keys:
        if getattr(key.column, "nullable", False) and not getattr(key.column, "primary_key", False):
            raise ConfigurationError(
                f"cursor pagination on {key.column}: the column is nullable and NULLs have no "
                "place in a keyset; declare it nullable=False or sort by another column"
            )
    return keys


def _python_type(column: Any) -> Any:
    try:
        return column.type.python_type
    except (AttributeError, NotImplementedError):
        return Any


def _beyond(keys: list[_Key], values: list[Any], backwards: bool) -> ColumnElement[bool]:
    """Rows after ``values`` in the key's order (before them going ``backwards``)."""
    alternatives = []
    for index, key in enumerate(keys):
        later = key.descending == backwards  # ascending, going forwards: greater
        step = key.column > values[index] if later else key.column < values[index]
        alternatives.append(and_(*(keys[j].column == values[j] for j in range(index)), step))
    return or_(*alternatives)


@dataclass(frozen=True, slots=True)
class CursorParams:
    """Where a request resumes a list: built by the ``Cursors`` dependency (or by hand with
    a ``cursor`` string a previous page gave out)."""

    cursor: str | None = None
    size: int = 20
    count: bool = False
    request: Request | None = None

    async def query(
        self,
        db: AsyncSession,
        statement: Select[Any],
        *,
        order: Sequence[Any],
        into: Any = None,
    ) -> Page[Any]:
        """One page of ``statement`` in ``order`` (its own ORDER BY is replaced), each row
        shaped ``into`` a schema if given; ``order``'s columns must be NOT NULL."""
        keys = keyset(order)
        backwards, values = self._position(keys)
        paged = statement.order_by(None)
        if values is not None:
            paged = paged.where(_beyond(keys, values, backwards))
        directions = [
            k.column.desc() if k.descending != backwards else k.column.asc() for k in keys
        ]
        rows = await fetch(db, paged.order_by(*directions).limit(self.size + 1))
        total = await count(db, statement) if self.count else None

        def key_of(row: Any) -> list[Any]:
            if isinstance(row, tuple) or hasattr(row, "_mapping"):
                return [row._mapping[k.column] for k in keys]
            return [getattr(row, k.column.key) for k in keys]

        return self._page(rows, key_of, backwards, values is not None, total, into)

    def sequence(
        self, items: Sequence[Any], *, key: Callable[[Any], Any], into: Any = None
    ) -> Page[Any]:
        """One page of ``items``, which must already be sorted (ascending) by ``key``, a
        function giving each item's unique sort key (a value or a tuple, JSON-able)."""
        backwards, values = (
            (False, None) if self.cursor is None else unsign(self.request, self.cursor)
        )
        keys = [list(k) if isinstance(k, tuple) else [k] for k in map(key, items)]
        start, stop = 0, len(items)
        if values is not None:
            try:
                at = (bisect.bisect_left if backwards else bisect.bisect_right)(keys, values)
            except TypeError:
                raise bad_cursor("Not a cursor this list gave out") from None
            start, stop = (0, at) if backwards else (at, len(items))
        chosen = list(items[start:stop])
        rows = chosen[::-1][: self.size + 1] if backwards else chosen[: self.size + 1]
        position = dict(zip(map(id, items), keys, strict=True))
        return self._page(
            rows, lambda r: position[id(r)], backwards, values is not None, len(items), into
        )

    def _position(self, keys: list[_Key]) -> tuple[bool, list[Any] | None]:
        if self.cursor is None:
            return False, None
        backwards, values = unsign(self.request, self.cursor)
        if len(values) != len(keys):
            raise bad_cursor("Not a cursor this list gave out")
        try:
            converted = [
                v if k.python_type is Any else msgspec.convert(v, k.python_type, strict=False)
                for k, v in zip(keys, values, strict=True)
            ]
        except msgspec.ValidationError:
            raise bad_cursor("Not a cursor this list gave out") from None
        return backwards, converted

    def _page(
        self,
        rows: list[Any],
        key_of: Callable[[Any], list[Any]],
        backwards: bool,
        resumed: bool,
        total: int | None,
        into: Any,
    ) -> Page[Any]:
        more = len(rows) > self.size
        rows = rows[: self.size]
        if backwards:
            rows.reverse()  # fetched nearest-first
        request = self.request
        following = previous = None
        if rows and request is not None:
            # Forwards, a page follows if more rows were found and one precedes once resumed;
            # backwards (we came from the page after), the reverse.
            if more or backwards:
                following = link(request, cursor=sign(request, False, _json(key_of(rows[-1]))))
            if more if backwards else resumed:
                previous = link(request, cursor=sign(request, True, _json(key_of(rows[0]))))
        return Page(shaped(rows, into), total, following, previous)


def _json(values: list[Any]) -> list[Any]:
    """Key values as JSON keeps them (dates as ISO strings, decimals as strings)."""
    return list(msgspec.to_builtins(values))


def cursors(
    *, size: int | None = None, max_size: int | None = None, count: bool = False
) -> Depends:
    """A ``CursorParams`` dependency reading ``cursor`` and ``size`` from the query string:
    ``params: Annotated[CursorParams, cursors(size=50)]``. Bounds as for ``pages()``;
    ``count=True`` adds a ``total`` (a COUNT per page)."""
    size_type = size_param(size, max_size)
    wanted = wanted_size(size, max_size)
    described = "Where to resume: the cursor in the previous page's next or prev link"

    async def cursor_params(
        request: Request,
        cursor: Annotated[str | None, Query(max_length=MAX_CURSOR, description=described)] = None,
        size: size_type = None,  # type: ignore[valid-type]
    ) -> CursorParams:
        params = CursorParams(cursor or None, wanted(request, size), count, request)
        if params.cursor is not None:
            unsign(request, params.cursor)  # a forged cursor stops here, before the handler
        return params

    return Depends(cursor_params)


#: ``params: Cursors``: cursor pagination with the settings' bounds, uncounted.
Cursors = Annotated[CursorParams, cursors()]

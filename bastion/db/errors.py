"""Values the database cannot hold, answered as bad input (422) instead of a 500.

An integer wider than the column (beyond 64 bits on SQLite, beyond ``int32`` for a PostgreSQL
``INTEGER``), text longer than ``VARCHAR(n)``, a NUL byte, text that is not a number: the
driver refuses such values, each in its own way (the SQLite driver raises a bare
``OverflowError``, asyncpg a ``DataError`` that SQLAlchemy reports as a plain
``DBAPIError``). Every engine made by ``bastion.db`` turns them into one exception,
``InvalidValue`` (a ``sqlalchemy.exc.DataError``), which knows the value and, when the
statement says so, its column; the plugin answers it with a problem that names the request
field that carried the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DataError
from sqlalchemy.ext.asyncio import AsyncEngine

from bastion.exceptions import HTTPError, NotFound, ValidationError
from bastion.http.request import Request
from bastion.http.response import ProblemResponse, Response

_INT_BITS = {"int16": 16, "int32": 32, "int64": 64}
_ARGUMENT = re.compile(r"query argument \$(\d+)")
_WIDTH = re.compile(r"\b(int16|int32|int64)\b")
_LENGTH = re.compile(r"character varying\((\d+)\)|character\((\d+)\)")
_NOT_COLUMNS = {"param", "pk"}  # bind names SQLAlchemy makes up


class InvalidValue(DataError):
    """A value in a statement that the database refused as data (SQLSTATE class 22)."""

    #: Why, as the end of a sentence about the value ("must be at most 40 characters").
    reason: str = "is not a value the database can store"
    #: The offending value, when the error names it.
    value: Any = None
    #: The column the statement binds the value to, when its parameter is named after one.
    column: str | None = None


def translate_data_errors(engine: AsyncEngine) -> None:
    """Report the driver's data errors on ``engine`` as ``InvalidValue``."""
    event.listen(engine.sync_engine, "handle_error", _handle_error)


def _handle_error(context: ExceptionContext) -> BaseException | None:
    compiled: Any = getattr(context.execution_context, "compiled", None)
    names = tuple(getattr(compiled, "positiontup", None) or ())
    return invalid_value(
        context.original_exception,
        context.sqlalchemy_exception,
        context.statement,
        context.parameters,
        names,
    )


def invalid_value(
    original: BaseException,
    wrapped: BaseException | None,
    statement: str | None,
    parameters: Any,
    names: Sequence[str] = (),
) -> InvalidValue | None:
    """``InvalidValue`` for a driver error caused by a value, else None (left as it is)."""
    if isinstance(wrapped, InvalidValue):
        return None
    orig: Any = original
    state = str(getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or "")
    if not (
        isinstance(original, OverflowError)
        or state.startswith("22")
        or isinstance(wrapped, DataError)
    ):
        return None
    message = str(original)
    error = InvalidValue(statement, parameters, original, hide_parameters=True)
    error.reason, index = _reason(original, state, message, parameters)
    if index is not None:
        error.value = index[1]
        if index[0] < len(names):
            column = re.sub(r"_\d+$", "", names[index[0]])
            error.column = None if column in _NOT_COLUMNS else column
    return error


def _reason(
    original: BaseException, state: str, message: str, parameters: Any
) -> tuple[str, tuple[int, Any] | None]:
    """The sentence for the error, and (position, value) of the offending parameter."""
    values = list(_flat(parameters))
    named = _ARGUMENT.search(message)
    found: tuple[int, Any] | None = None
    if named and 0 < int(named.group(1)) <= len(values):
        position = int(named.group(1)) - 1
        found = (position, values[position])
    width = _WIDTH.search(message)
    if isinstance(original, OverflowError) or width or state == "22003":
        bits = _INT_BITS[width.group(1)] if width else 64
        if found is None:
            found = _first(values, lambda v: isinstance(v, int) and not _fits(v, bits))
        low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        return f"must be an integer from {low} to {high}", found
    length = _LENGTH.search(message)
    if state == "22001" or length:
        limit = int(length.group(1) or length.group(2)) if length else None
        if found is None and limit is not None:
            found = _first(values, lambda v: isinstance(v, str) and len(v) > limit)
        if limit is None:
            return "is longer than the database allows", found
        return f"must be at most {limit} characters long", found
    if state in ("22021", "22P05") or "0x00" in message:
        if found is None:
            found = _first(values, lambda v: isinstance(v, str) and "\x00" in v)
        return "must not contain NUL characters", found
    if state in ("22007", "22008"):
        return "must be a date or time the database can store", found
    if state == "22012":
        return "must not lead to a division by zero", found
    return "is not a value the database can store", found


def _flat(parameters: Any) -> Iterator[Any]:
    """The values of one execution's parameters (positional, named or many)."""
    if isinstance(parameters, dict):
        yield from parameters.values()
    elif isinstance(parameters, (list, tuple)):
        if parameters and all(isinstance(p, (list, tuple, dict)) for p in parameters):
            for row in parameters:
                yield from _flat(row)
        else:
            yield from parameters


def _fits(value: int, bits: int) -> bool:
    return -(1 << (bits - 1)) <= value < 1 << (bits - 1)


def _first(values: list[Any], wanted: Any) -> tuple[int, Any] | None:
    return next(((i, v) for i, v in enumerate(values) if wanted(v)), None)


def answer_invalid_value(request: Request, exc: DataError) -> Response:
    """A 422 naming the field: the query parameter that carried the value, else the column
    the statement binds it to; a path segment no row can have is a 404, as a path segment
    of the wrong type is. The SQL and the parameters stay out of it."""
    reason = exc.reason if isinstance(exc, InvalidValue) else InvalidValue.reason
    field = _field_of(request, exc)
    error: HTTPError
    if field is None:
        error = ValidationError(
            [{"field": "request", "reason": reason}], f"A value in the request {reason}"
        )
    elif field.startswith("path."):
        error = NotFound(f"Nothing exists at this path: {field} {reason}")
    else:
        error = ValidationError(
            [{"field": field, "reason": reason}], f"The value of {field} {reason}"
        )
    return ProblemResponse(error.problem(), error.status_code)


def _field_of(request: Request, exc: DataError) -> str | None:
    if not isinstance(exc, InvalidValue):
        return None
    if exc.value is not None:
        text = str(exc.value)
        for name, value in request.path_params.items():
            if value == exc.value or str(value) == text:
                return f"path.{name}"
        try:
            query = request.query_params.multi_items()
        except Exception:  # an undecodable query string: nothing to name
            query = []
        for name, raw in query:
            if raw.strip() == text:
                return f"query.{name}"
    return exc.column

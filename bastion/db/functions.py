"""SQL functions whose spelling differs between PostgreSQL and SQLite, written once.

``list_of(Tag.name)`` gathers a column's values over a group, or over a correlated subquery,
into one Python list: a page of articles with each one's tags in one statement instead of
one more query for the tags.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator


class _Listed(TypeDecorator[list[Any]]):
    """A PostgreSQL array (a list from asyncpg) or SQLite's JSON array (decoded by JSON's own
    result processing); no rows at all is an empty list, not None."""

    impl = JSON
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Any) -> list[Any]:
        return [] if value is None else list(value)


class list_of(FunctionElement[list[Any]]):  # lower case, like func.*
    """``select(list_of(Tag.name)).join(...).where(ArticleTag.article_id == Article.id)
    .scalar_subquery()``: ``array_agg`` on PostgreSQL, ``json_group_array`` on SQLite, in no
    particular order (sort the list in Python, where the order does not depend on the
    database's collation). For text and numbers: on SQLite other values come back as JSON
    gives them."""

    inherit_cache = True
    name = "list_of"
    type = _Listed()


@compiles(list_of, "postgresql")
def _array_agg(element: list_of, compiler: SQLCompiler, **kw: Any) -> str:
    return f"array_agg({compiler.process(element.clauses, **kw)})"


@compiles(list_of, "sqlite")
def _json_group_array(element: list_of, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_group_array({compiler.process(element.clauses, **kw)})"


@compiles(list_of)
def _unsupported(element: list_of, compiler: SQLCompiler, **kw: Any) -> str:
    raise CompileError(
        f"list_of() is written for PostgreSQL and SQLite, not {compiler.dialect.name}: use that "
        "database's array aggregate (func.array_agg, func.group_concat, ...)"
    )

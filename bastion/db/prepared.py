"""``Prepared``: a SQLAlchemy ``select()`` compiled once, run on the driver where that is
safe.

SQLAlchemy spends more CPU on each execution (cache key, execution context, cursor and
result objects, a greenlet switch) than PostgreSQL spends answering a primary-key lookup. A
prepared select pays SQLAlchemy's compilation once; each run puts its parameters in order
and hands the SQL to asyncpg, on a connection from SQLAlchemy's own pool. Rows come back as
tuples; whole entities (``select(Article)``) come back as read-only objects, and
``.into(Cls)`` makes each row a Struct or a dataclass (see ``_shapes.py``). An INSERT, UPDATE
or DELETE with bound values runs the same way inside the session's transaction
(``_writes.py``): ``.execute()`` gives the count of rows, ``.one()`` and the rest what it
RETURNs.

Where the shortcut could change what a read sees, it runs through the session instead, with
the same results at SQLAlchemy's speed: on other drivers (SQLite), once the session has
begun or holds unflushed changes, when reads do not run in autocommit
(``autocommit_reads=False``, a stricter isolation level), in test isolation, and for
statements whose SQL depends on the values (``literal_execute``). ``IN`` lists of bound
values run on PostgreSQL as ``= ANY($1)``, one array.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import Delete, Insert, Select, Update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import InvalidRequestError, MultipleResultsFound, NoResultFound
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter

from bastion.db import _writes
from bastion.db._direct import DirectReads, direct_reads
from bastion.db._shapes import Make, arrays_for_in, entity_rows, has_entities, into, names_of

Row = tuple[Any, ...]
T = TypeVar("T")
R = TypeVar("R")


class Prepared:
    """``ONE_BOOK = Prepared(select(Book.id, Book.title).where(Book.id == bindparam("id")))``,
    built once at import; ``await ONE_BOOK.one(db, id=7)`` in a handler.

    ``select(Book)`` loads whole books, detached from the session (read-only: change one
    through ``db.get`` or ``db.merge``), with the to-one relationships the model declares
    ``lazy="joined"``; ``.into(BookOut)`` builds a Struct or dataclass from each row."""

    __slots__ = ("_make", "_names", "_plan", "_returns", "_write", "statement")

    def __init__(self, statement: Select[*tuple[Any, ...]] | Insert | Update | Delete) -> None:
        if not isinstance(statement, Select | Insert | Update | Delete):
            raise TypeError(
                f"Prepared takes a select(), insert(), update() or delete(), not "
                f"{type(statement).__name__}"
            )
        self._make: Make | None = None
        if isinstance(statement, Select):
            self._write, self._returns = False, True
            if has_entities(statement):
                statement, self._make = entity_rows(statement)
        elif statement._propagate_attrs.get("compile_state_plugin") == "orm":
            subject = statement._propagate_attrs.get("plugin_subject")
            model = getattr(getattr(subject, "class_", None), "__name__", "Model")
            raise TypeError(
                f"Prepared writes take a table and its columns ({model}.__table__, "
                f"{model}.__table__.c.id == ...), not the model {model} or its attributes: "
                "the ORM's DML on a model also updates the session's objects, which a write "
                "on the driver does not"
            )
        else:
            self._write, self._returns = True, bool(statement._returning)
            _refuse_column_names(statement)
        self.statement: Any = statement
        #: The parameters a write takes: another name is refused on every path (through the
        #: session, an INSERT would take a column's name as a value to write, the driver
        #: would not). A select ignores names it does not use, as SQLAlchemy does.
        self._names = frozenset(bind.key for bind in statement._get_embedded_bindparams())
        self._plan: tuple[Dialect, _Plan | None] | None = None

    def into(self, cls: type[T]) -> Into[T]:
        """The same select, each row built into ``cls`` (a msgspec Struct or a dataclass)
        whose fields are named after the columns (``.label("field")`` renames one); matched
        here, once."""
        if self._make is not None or self._write:
            raise TypeError(
                "Prepared(...).into() maps a select's columns to fields: select the columns, "
                "not entities, and not from a write"
            )
        return Into(self, into(cls, names_of(self.statement)))

    async def all(self, db: AsyncSession, /, **params: Any) -> list[Row]:
        """Every row."""
        rows = await self._rows(db, params)
        make = self._make
        return rows if make is None else [make(row) for row in rows]

    async def first(self, db: AsyncSession, /, **params: Any) -> Row | None:
        """The first row, or None."""
        row = await self._first(db, params)
        make = self._make
        return row if make is None or row is None else make(row)

    async def one(self, db: AsyncSession, /, **params: Any) -> Row:
        """Exactly one row; ``NoResultFound`` (answered 404) or ``MultipleResultsFound``."""
        return _only(await self.all(db, **params))

    async def scalar(self, db: AsyncSession, /, **params: Any) -> Any:
        """The first column of the first row, or None."""
        row = await self.first(db, **params)
        return None if row is None else row[0]

    async def scalars(self, db: AsyncSession, /, **params: Any) -> list[Any]:
        """The first column of every row."""
        return [row[0] for row in await self.all(db, **params)]

    async def execute(self, db: AsyncSession, /, **params: Any) -> int:
        """Run an INSERT, UPDATE or DELETE in the session's transaction; the count of rows
        it touched."""
        if not self._write:
            raise TypeError("Prepared(select(...)).execute(): read a select with .all() or .one()")
        count: int = await self._written(db, params, rows=False)
        return count

    def _check(self, params: Mapping[str, Any]) -> None:
        if not self._names.issuperset(params):
            unknown = ", ".join(sorted(set(params) - self._names))
            takes = ", ".join(sorted(n for n in self._names if n.isidentifier())) or "none"
            raise TypeError(
                f"Prepared: unknown parameter(s) {unknown}; this statement takes: {takes} "
                "(the names of its bindparam()s)"
            )

    async def _rows(self, db: AsyncSession, params: Mapping[str, Any]) -> list[Row]:
        """Plain column tuples, from the driver or through the session."""
        if self._write:
            written: list[Row] = await self._written(db, params, rows=True)
            return written
        reads = direct_reads(db)
        plan = None if reads is None else self._plan_for(reads.engine.dialect)
        if reads is None or plan is None:
            return [tuple(row) for row in await db.execute(self.statement, params)]
        records = await _run(reads, plan, plan.arguments(params), "fetch")
        return [plan.row(record) for record in records]

    async def _first(self, db: AsyncSession, params: Mapping[str, Any]) -> Row | None:
        if self._write:
            rows = await self._rows(db, params)
            return rows[0] if rows else None
        reads = direct_reads(db)
        plan = None if reads is None else self._plan_for(reads.engine.dialect)
        if reads is None or plan is None:
            row = (await db.execute(self.statement, params)).first()
            return None if row is None else tuple(row)
        record = await _run(reads, plan, plan.arguments(params), "fetchrow")
        return None if record is None else plan.row(record)

    async def _written(self, db: AsyncSession, params: Mapping[str, Any], *, rows: bool) -> Any:
        """A write's returned rows (``rows``) or its count, from the driver inside the
        session's transaction or through the session."""
        self._check(params)
        if rows and not self._returns:
            raise InvalidRequestError(
                "This write returns no rows: add .returning(...) to it, or call .execute() "
                "for the count of rows it touched"
            )
        reads = _writes.direct_writes(db)
        plan = None if reads is None else self._plan_for(reads.engine.dialect)
        if reads is None or plan is None:
            result: Any = await db.execute(self.statement, params)
            return [tuple(row) for row in result] if rows else result.rowcount
        connection, driver = await _writes.in_transaction(db, reads)
        args = plan.arguments(params)
        try:
            if not rows:
                return _count(await driver.execute(plan.sql, *args))
            if plan.results is None:
                prepared = await driver.prepare(plan.sql)
                plan.learn([attribute.type.oid for attribute in prepared.get_attributes()])
            return [plan.row(record) for record in await driver.fetch(plan.sql, *args)]
        except Exception as error:
            raise await _writes.failed(
                reads, connection, error, plan.sql, args, plan.names
            ) from None

    def _plan_for(self, dialect: Dialect) -> _Plan | None:
        """The compiled statement, or None when its SQL depends on the values
        (``literal_execute``, a tuple ``IN``) and it must run through the session."""
        cached = self._plan
        if cached is None or cached[0] is not dialect:
            statement = self.statement
            if dialect.name == "postgresql" and not self._write:
                statement = arrays_for_in(statement)
            compiled = statement.compile(dialect=dialect)
            direct = not (
                compiled.post_compile_params
                or compiled.literal_execute_params
                or any(bind.callable for bind in compiled.binds.values())
            )
            cached = self._plan = (dialect, _Plan(compiled) if direct else None)
        return cached[1]


class Into(Generic[T]):
    """``Prepared(...).into(Cls)``: the prepared select, each row made a ``Cls``."""

    __slots__ = ("_make", "prepared")

    def __init__(self, prepared: Prepared, make: Make) -> None:
        self.prepared = prepared
        self._make = make

    async def all(self, db: AsyncSession, /, **params: Any) -> list[T]:
        """Every row."""
        make = self._make
        return [make(row) for row in await self.prepared._rows(db, params)]

    async def first(self, db: AsyncSession, /, **params: Any) -> T | None:
        """The first row, or None."""
        row = await self.prepared._first(db, params)
        return None if row is None else self._make(row)

    async def one(self, db: AsyncSession, /, **params: Any) -> T:
        """Exactly one row; ``NoResultFound`` (answered 404) or ``MultipleResultsFound``."""
        return _only(await self.all(db, **params))


def _only(rows: list[R]) -> R:
    if len(rows) == 1:
        return rows[0]
    if not rows:
        raise NoResultFound("No row was found when one was required")
    raise MultipleResultsFound("Multiple rows were found when exactly one was required")


class _Plan:
    """The statement compiled for one dialect: SQL, parameter order, value processors."""

    __slots__ = (
        "binds",
        "columns",
        "defaults",
        "dialect",
        "names",
        "prefetch",
        "results",
        "sql",
    )

    def __init__(self, compiled: SQLCompiler) -> None:
        self.dialect = compiled.dialect
        self.sql = compiled.string
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        #: A write's columns whose value Python makes when it runs (``default=``, and
        #: ``onupdate=`` for an UPDATE): computed per run, as SQLAlchemy's execution does.
        self.prefetch: list[tuple[str, Any]] = [
            (column.key, column.default)
            for column in compiled.insert_prefetch
            if column.key in self.names and column.default is not None
        ] + [
            (column.key, column.onupdate)
            for column in compiled.update_prefetch
            if column.key in self.names and column.onupdate is not None
        ]
        prefetched = {name for name, _ in self.prefetch}
        self.defaults = {
            name: bind.effective_value
            for name, bind in ((name, compiled.binds[name]) for name in self.names)
            if not bind.required and name not in prefetched
        }
        processors: Mapping[str, Any] = compiled._bind_processors
        self.binds = [
            (i, processors[name]) for i, name in enumerate(self.names) if name in processors
        ]
        self.columns = [column.type for column in compiled._result_columns]
        #: Result processors, known after the first run: some depend on the column types
        #: the server reports (SQLAlchemy's asyncpg cursor passes them the same way).
        self.results: list[tuple[int, Any]] | None = None

    def learn(self, server_types: Sequence[int]) -> None:
        self.results = [
            (i, process)
            for i, (column, server_type) in enumerate(zip(self.columns, server_types, strict=True))
            if (process := column._cached_result_processor(self.dialect, server_type))
        ]

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        values = {**self.defaults, **params} if self.defaults else params
        if self.prefetch:
            values = dict(values)
            for name, default in self.prefetch:
                if name not in values:
                    values[name] = default.arg(None) if default.is_callable else default.arg
        try:
            args = [values[name] for name in self.names]
        except KeyError as missing:  # SQLAlchemy's own words for it
            raise InvalidRequestError(f"A value is required for bind parameter {missing}") from None
        for i, process in self.binds:
            args[i] = process(args[i])
        return args

    def row(self, record: Any) -> Row:
        if not self.results:
            return tuple(record)
        values = list(record)
        for i, process in self.results:
            values[i] = process(values[i])
        return tuple(values)


def _refuse_column_names(statement: Insert | Update | Delete) -> None:
    """Through the session SQLAlchemy keeps a column's name in an INSERT or UPDATE for the
    value it sets (``CompileError`` at the first call), while the driver would run it: refused
    here, so a write fails alike on every path, at import."""
    if isinstance(statement, Delete):
        return
    table: Any = statement.table
    columns = {column.key for column in table.c}
    values: dict[Any, Any] = dict(statement._values or {})
    values.update(dict(getattr(statement, "_ordered_values", None) or ()))
    own = {  # values(title=bindparam("title")): the one place a column's name is fine
        id(value)
        for key, value in values.items()
        if isinstance(value, BindParameter) and value.key == getattr(key, "key", key)
    }
    for bind in statement._get_embedded_bindparams():
        if bind.key in columns and id(bind) not in own:
            raise ValueError(
                f"bindparam({bind.key!r}) is named like the column {table.name}.{bind.key}, "
                f"which SQLAlchemy keeps for the value an {type(statement).__name__.upper()} "
                f"sets: rename it, e.g. bindparam({bind.key + '_'!r})"
            )


def _count(status: str) -> int:
    """The rows a write touched, from the server's status (``UPDATE 3``, ``INSERT 0 1``)."""
    last = status.rpartition(" ")[2]
    return int(last) if last.isdigit() else -1


async def _run(reads: DirectReads, plan: _Plan, args: list[Any], method: str) -> Any:
    connection = await reads.connection()
    try:
        if plan.results is None:
            prepared = await connection.prepare(plan.sql)
            plan.learn([attribute.type.oid for attribute in prepared.get_attributes()])
        return await getattr(connection, method)(plan.sql, *args)
    except Exception as error:
        raise await reads.failed(error, plan.sql, args, plan.names) from None

"""Fixed SELECTs run on the driver's own connection, under a SQLAlchemy connection of the pool.

SQLAlchemy's async adapters take several awaits per statement (on SQLite four hops to aiosqlite's thread:
cursor, execute, fetch, close). Measured for a one-row SELECT by primary key, CPU per statement: SQLite 480 µs
through SQLAlchemy, 100 µs as one `execute_fetchall`; PostgreSQL 220 µs, 130 µs as one asyncpg `fetch`.

- RawSelect: the hottest fixed reads (a task, the tags and reminders of a page). A statement is written once,
  its columns from the table: PostgreSQL's numbered parameters (`$1`), which SQLite reads as `?1`, and a list
  parameter as `= ANY($n)` (PostgreSQL) or `IN (SELECT value FROM json_each(?n))` (SQLite), so the text is
  the same whatever the list's length.
- CompiledSelects: SELECTs built with SQLAlchemy per request (the pages of lists and searches). Each shape
  is compiled once per dialect, keyed by SQLAlchemy's own cache key; a request's values are that key's bound
  values, put in the compiled statement's places and converted by the binds' own processors, as SQLAlchemy
  does on a cache hit. Measured for an empty page: 600 µs through SQLAlchemy's execution, of which its
  compilation (done once here) would be as much again.

Every other statement goes through SQLAlchemy.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import namedtuple
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, cast

from cachetools import LRUCache
from sqlalchemy import Column, Select, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.cache_key import CacheKey
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any]  # a column's value as the driver returns it → its Python type
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6  # primary result codes (extended codes keep them in the low byte)
_ANY = re.compile(r"= ANY\(\$(\d+)\)")  # a list parameter's test: `task_id = ANY($1)`


class _Records:
    """Driver rows of `columns` as named tuples of their Python values: converted by the result processors
    SQLAlchemy itself applies to those columns on that dialect (SQLite's text datetimes, dates and 0/1
    booleans; UTCDateTime's UTC)."""

    def __init__(self, name: str, columns: Sequence[Column[Any]]) -> None:
        self.record: Any = namedtuple(name, [c.name for c in columns])  # type: ignore[misc]
        self._columns = columns
        self._processors: dict[str, list[tuple[int, Processor]]] = {}  # per dialect, made on first use

    def _records(self, found: Sequence[Sequence[Any]], dialect: Dialect) -> list[Any]:
        processors = self._processors.get(dialect.name)
        if processors is None:
            processors = self._processors[dialect.name] = [
                (i, process)
                for i, column in enumerate(self._columns)
                if (process := column.type.dialect_impl(dialect).result_processor(dialect, None)) is not None
            ]
        return [self._record(row, processors) for row in found]

    def _record(self, row: Sequence[Any], processors: list[tuple[int, Processor]]) -> Any:
        values = list(row)
        for i, process in processors:
            values[i] = process(values[i])
        return self.record._make(values)


def observed(target: AsyncConnection | AsyncEngine) -> bool:
    """Whether anything observes the statements SQLAlchemy sends on `target` (tracing's SQL spans, the
    tests' and bench 3's statement capture: before/after_cursor_execute events)."""
    if isinstance(target, AsyncEngine):
        events: Any = target.sync_engine.dispatch
    else:
        events = target.sync_connection.dispatch if target.sync_connection is not None else None
    return events is not None and bool(events.before_cursor_execute or events.after_cursor_execute)


async def _fetch(connection: AsyncConnection, sql: str, params: Sequence[Any]) -> Sequence[Sequence[Any]]:
    """The driver's rows of `sql` in the dialect's parameter style, read on `connection`'s driver connection
    (aiosqlite's or asyncpg's). Errors are the driver's own (uow.as_unavailable reads them too); a
    connection broken meanwhile fails the pool's reset when it is returned, which discards it.

    While anything observes the statements SQLAlchemy sends (tracing's SQL spans, the tests' and
    bench 3's statement capture: its before/after_cursor_execute events), the same SQL goes through
    SQLAlchemy's exec_driver_sql instead, which reports it and returns the same driver values."""
    if observed(connection):
        return (await connection.exec_driver_sql(sql, tuple(params))).all()
    driver: Any = (await connection.get_raw_connection()).driver_connection
    if connection.dialect.name == "postgresql":
        return await driver.fetch(sql, *params)
    return await driver.execute_fetchall(sql, params)


class RawSelect(_Records):
    """`SELECT names FROM table WHERE where [ORDER BY order] [LIMIT limit]` (every column without `names`)
    with positional parameters; rows come back as named tuples of the columns' names and Python types.

    `where` and `order` are SQL text in PostgreSQL's spelling (see the module); `= ANY($n)` makes
    parameter n a list. `for_update`: PostgreSQL locks the rows read until the transaction ends.
    """

    def __init__(
        self,
        table: Table,
        names: Sequence[str] | None = None,
        *,
        where: str,
        order: str | None = None,
        limit: int | None = None,
        for_update: bool = False,
    ) -> None:
        columns = [table.c[name] for name in names] if names is not None else list(table.c)
        super().__init__(f"{table.name}_row", columns)
        selected = ", ".join(c.name for c in columns)
        self._lists = frozenset(int(n) for n in _ANY.findall(where))
        ordered = f" ORDER BY {order}" if order else ""
        limited = f" LIMIT {int(limit)}" if limit is not None else ""
        postgres = f"SELECT {selected} FROM {table.name} WHERE {where}{ordered}{limited}"
        sqlite = _ANY.sub(r"IN (SELECT value FROM json_each($\1))", postgres)
        # SQLite has no row locks: its writers hold the database's write lock from BEGIN IMMEDIATE.
        locked = " FOR UPDATE" if for_update else ""
        self._sql = {"postgresql": postgres + locked, "sqlite": sqlite.replace("$", "?")}

    async def rows(self, connection: AsyncConnection, *params: Any) -> list[Any]:
        """The rows for `params` (lists as Python lists), read on `connection`'s driver connection."""
        dialect = connection.dialect
        if dialect.name != "postgresql":
            params = self._sqlite_params(params)
        return self._records(await _fetch(connection, self._sql[dialect.name], params), dialect)

    def inline_rows(self, reads: InlineReads, *params: Any) -> list[Any] | None:
        """The rows for `params`, read by `reads` on this thread; None when the database was busy."""
        found = reads.fetch(self._sql["sqlite"], self._sqlite_params(params))
        return None if found is None else self._records(found, reads.dialect)

    def _sqlite_params(self, params: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(json.dumps(p) if i + 1 in self._lists else p for i, p in enumerate(params))


class InlineReads:
    """SQLite: fixed statements run on the event loop's own thread, on a synchronous connection of their
    own: a read of a few rows by key takes microseconds in SQLite, where the hand-off to aiosqlite's thread
    and back costs about 100 µs of CPU, and no pooled connection is checked out for it.

    The connection (made by `connect` on first use) runs each statement on its own (autocommit: it reads the
    newest commit, WAL lets it read beside a writer), is query-only, and never waits: when SQLite answers
    busy or locked (a checkpoint, a recovery) `fetch` returns None and the caller reads on a pooled
    connection instead. Only for reads bounded by a key: anything longer would hold up the loop.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection], dialect: Dialect) -> None:
        self._connect = connect
        self._db: sqlite3.Connection | None = None
        self.dialect = dialect

    def fetch(self, sql: str, params: Sequence[Any]) -> list[Any] | None:
        """The driver's rows of `sql` (SQLite's spelling), or None when the database was busy or locked."""
        if self._db is None:
            self._db = self._connect()
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.OperationalError as error:
            if getattr(error, "sqlite_errorcode", 0) & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED):
                return None
            self.close()  # made anew by the next read
            raise

    def close(self) -> None:
        """Close the connection (a later read opens another)."""
        if self._db is not None:
            self._db.close()
            self._db = None


class _Shape(NamedTuple):
    """A statement shape compiled for one dialect: its SQL, and per positional parameter its bind's name
    and processor (None: the value as it is)."""

    compiled: SQLCompiler
    sql: str
    params: list[tuple[str, Processor | None]]


class CompiledSelects(_Records):
    """SELECTs of every column of `table` (in table order), built with SQLAlchemy and run on the driver;
    rows come back as RawSelect's do. Up to `shapes` compiled shapes are kept (least recently used go).

    A statement SQLAlchemy cannot cache, or with a list parameter to expand at execution (`in_()` of
    values), runs through SQLAlchemy as it is; its rows are the same named tuples.
    """

    def __init__(self, table: Table, *, shapes: int = 512) -> None:
        super().__init__(f"{table.name}_row", list(table.c))
        self._shapes: LRUCache[tuple[Any, ...], _Shape | None] = LRUCache(maxsize=shapes)

    async def rows(self, connection: AsyncConnection, stmt: Select[Any]) -> list[Any]:
        """The rows of `stmt`, read on `connection`'s driver connection."""
        dialect = connection.dialect
        key = stmt._generate_cache_key()
        shape = None
        if key is not None:
            found = self._shapes.get((dialect.name, key.key), _UNKNOWN)
            shape = self._shape(stmt, key, dialect) if found is _UNKNOWN else found
        if key is None or shape is None:
            return [self.record._make(row) for row in await connection.execute(stmt)]
        values = shape.compiled.construct_params(extracted_parameters=key.bindparams)
        params = [
            values[name] if process is None else process(values[name]) for name, process in shape.params
        ]
        return self._records(await _fetch(connection, shape.sql, params), dialect)

    def _shape(self, stmt: Select[Any], key: CacheKey, dialect: Dialect) -> _Shape | None:
        compiled = cast(SQLCompiler, stmt.compile(dialect=dialect, cache_key=key))
        shape = None
        if not compiled.post_compile_params and not compiled.literal_execute_params:
            binds = {name: bind for bind, name in compiled.bind_names.items()}
            shape = _Shape(
                compiled,
                compiled.string,
                [
                    (name, binds[name].type.dialect_impl(dialect).bind_processor(dialect))
                    for name in compiled.positiontup or ()
                ],
            )
        self._shapes[(dialect.name, key.key)] = shape
        return shape


_UNKNOWN: Any = object()  # a shape not compiled yet

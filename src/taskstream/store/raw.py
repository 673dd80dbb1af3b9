"""Fixed SELECTs run on the driver's own connection, under a SQLAlchemy connection of the pool.

SQLAlchemy's async adapters take several awaits per statement (on SQLite four hops to aiosqlite's thread:
cursor, execute, fetch, close). Measured for a one-row SELECT by primary key, CPU per statement: SQLite 480 µs
through SQLAlchemy, 100 µs as one `execute_fetchall`; PostgreSQL 220 µs, 130 µs as one asyncpg `fetch`. The
hottest reads (a task, the tags and reminders of a page) take this path; every other statement goes through
SQLAlchemy. A statement is written once, its columns from the table: PostgreSQL's numbered parameters
(`$1`), which SQLite reads as `?1`, and a list parameter as `= ANY($n)` (PostgreSQL) or `IN (SELECT value
FROM json_each(?n))` (SQLite), so the text is the same whatever the list's length.
"""

from __future__ import annotations

import json
import re
from collections import namedtuple
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

Processor = Callable[[Any], Any]  # a column's value as the driver returns it → its Python type
_ANY = re.compile(r"= ANY\(\$(\d+)\)")  # a list parameter's test: `task_id = ANY($1)`


class RawSelect:
    """`SELECT names FROM table WHERE where [ORDER BY order] [LIMIT limit]` (every column without `names`)
    with positional parameters; rows come back as named tuples of the columns' names and Python types,
    converted by the result processors SQLAlchemy itself applies to those columns on that dialect (SQLite's
    text datetimes, dates and 0/1 booleans; UTCDateTime's UTC).

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
        self.record: Any = namedtuple(f"{table.name}_row", [c.name for c in columns])  # type: ignore[misc]
        selected = ", ".join(c.name for c in columns)
        self._lists = frozenset(int(n) for n in _ANY.findall(where))
        ordered = f" ORDER BY {order}" if order else ""
        limited = f" LIMIT {int(limit)}" if limit is not None else ""
        postgres = f"SELECT {selected} FROM {table.name} WHERE {where}{ordered}{limited}"
        sqlite = _ANY.sub(r"IN (SELECT value FROM json_each($\1))", postgres)
        # SQLite has no row locks: its writers hold the database's write lock from BEGIN IMMEDIATE.
        locked = " FOR UPDATE" if for_update else ""
        self._sql = {"postgresql": postgres + locked, "sqlite": sqlite.replace("$", "?")}
        self._columns = columns
        self._processors: dict[str, list[tuple[int, Processor]]] = {}  # per dialect, made on first use

    async def rows(self, connection: AsyncConnection, *params: Any) -> list[Any]:
        """The rows for `params` (lists as Python lists), read on `connection`'s driver connection. Errors
        are the driver's own (uow.as_unavailable reads them too); a connection broken meanwhile fails the
        pool's reset when it is returned, which discards it (PostgreSQL's pre-ping would too)."""
        driver: Any = (await connection.get_raw_connection()).driver_connection
        dialect = connection.dialect
        sql = self._sql[dialect.name]
        if dialect.name == "postgresql":
            found = await driver.fetch(sql, *params)
        else:
            values = [json.dumps(p) if i + 1 in self._lists else p for i, p in enumerate(params)]
            found = await driver.execute_fetchall(sql, values)
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

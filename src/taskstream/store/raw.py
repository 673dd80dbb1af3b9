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
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Boolean, Column, Date, Table
from sqlalchemy.ext.asyncio import AsyncConnection

from taskstream.store.tables import UTCDateTime

_ANY = re.compile(r"= ANY\(\$(\d+)\)")  # a list parameter's test: `task_id = ANY($1)`


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)  # SQLite keeps UTCDateTime as naive UTC text


def _sqlite_reader(column: Column[Any]) -> Callable[[Any], Any] | None:
    """How a value SQLite returns becomes the column's Python type (None: as it comes)."""
    if isinstance(column.type, UTCDateTime):
        return _utc
    if isinstance(column.type, Date):
        return date.fromisoformat
    if isinstance(column.type, Boolean):
        return bool
    return None


class RawSelect:
    """`SELECT names FROM table WHERE where [ORDER BY order]` (every column without `names`) with positional
    parameters; rows come back as named tuples of the columns' names and Python types, as SQLAlchemy's rows
    of them would be.

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
        for_update: bool = False,
    ) -> None:
        columns = [table.c[name] for name in names] if names is not None else list(table.c)
        self.record: Any = namedtuple(f"{table.name}_row", [c.name for c in columns])  # type: ignore[misc]
        selected = ", ".join(c.name for c in columns)
        self._lists = frozenset(int(n) for n in _ANY.findall(where))
        ordered = f" ORDER BY {order}" if order else ""
        postgres = f"SELECT {selected} FROM {table.name} WHERE {where}{ordered}"
        sqlite = _ANY.sub(r"IN (SELECT value FROM json_each($\1))", postgres)
        # SQLite has no row locks: its writers hold the database's write lock from BEGIN IMMEDIATE.
        locked = " FOR UPDATE" if for_update else ""
        self._sql = {"postgresql": postgres + locked, "sqlite": sqlite.replace("$", "?")}
        self._readers = [(i, r) for i, c in enumerate(columns) if (r := _sqlite_reader(c)) is not None]

    async def rows(self, connection: AsyncConnection, *params: Any) -> list[Any]:
        """The rows for `params` (lists as Python lists), read on `connection`'s driver connection. Errors
        are the driver's own (uow.as_unavailable reads them too); a connection broken meanwhile fails the
        pool's reset when it is returned, which discards it (PostgreSQL's pre-ping would too)."""
        driver: Any = (await connection.get_raw_connection()).driver_connection
        dialect = connection.dialect.name
        if dialect == "postgresql":
            return [self.record._make(r) for r in await driver.fetch(self._sql[dialect], *params)]
        values = [json.dumps(p) if i + 1 in self._lists else p for i, p in enumerate(params)]
        return [self._sqlite_row(row) for row in await driver.execute_fetchall(self._sql[dialect], values)]

    def _sqlite_row(self, row: Sequence[Any]) -> Any:
        values = list(row)
        for i, read in self._readers:
            if values[i] is not None:
                values[i] = read(values[i])
        return self.record._make(values)

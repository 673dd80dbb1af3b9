"""What differs between the databases taskstream runs on (SQLite, PostgreSQL), decided once per engine.

Everything that depends on the database reads it here instead of testing the dialect itself: the write
lock, NOTIFY on commit, array parameters, advisory locks and the transaction options of reads. The search
planner is chosen from it too (features/tasks/search.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ARRAY, bindparam, func
from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass(frozen=True)
class DatabaseProfile:
    """The database's abilities; `of(engine)` gives the right one."""

    name: str  # "sqlite" or "postgresql"
    # SQLite has one writer at a time: in-process writers queue on one lock, in order, instead of meeting
    # SQLite's busy handler, which sleeps 1 ms … 100 ms between retries.
    single_writer: bool = False
    # PostgreSQL: a commit that wrote outbox rows sends NOTIFY, which wakes relays in other processes; a
    # relay leads through an advisory lock; lists of values travel as one array parameter.
    listen_notify: bool = False
    advisory_locks: bool = False
    array_parameters: bool = False
    read_options: dict[str, object] = field(default_factory=dict)

    @classmethod
    def of(cls, engine: AsyncEngine) -> DatabaseProfile:
        """The profile of `engine`'s database (SQLite's for anything but PostgreSQL)."""
        if engine.url.get_backend_name() == "postgresql":
            # No BEGIN / ROLLBACK round trips around a read: under READ COMMITTED each statement of a
            # transaction takes its own snapshot anyway, so the reads see exactly what they would inside one.
            return cls(
                "postgresql",
                listen_notify=True,
                advisory_locks=True,
                array_parameters=True,
                read_options={"isolation_level": "AUTOCOMMIT"},
            )
        return cls("sqlite", single_writer=True)

    def one_of(self, column: Any, values: Sequence[Any]) -> Any:
        """`column IN values`; on PostgreSQL `= ANY` of one array parameter, so the statement text (and the
        plan asyncpg prepared for it) is the same whatever the number of values."""
        if self.array_parameters:
            return column == func.any(bindparam("values", list(values), type_=ARRAY(column.type)))
        return column.in_(values)

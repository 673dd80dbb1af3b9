"""New rows as column values, inserted with one Core INSERT per table: no ORM objects, no flush.

A change that adds rows (a task with its tags and reminders, outbox events, inbox records) builds them as
`NewRows`: per table, the rows' column values, parents' tables first. One executemany per table costs one
hand-off to the driver (SQLite) or one pipelined round trip (asyncpg), where the ORM's flush first sorted
the objects into the same statements.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

NewRows = dict[Table, list[dict[str, Any]]]  # per table, parents first: rows of the same columns each


def merged(parts: list[NewRows]) -> NewRows:
    """One NewRows of several, each table's rows in the parts' order (tables first met first)."""
    out: NewRows = {}
    for part in parts:
        for table, values in part.items():
            out.setdefault(table, []).extend(values)
    return out


async def insert_rows(executor: AsyncSession | AsyncConnection, rows: NewRows) -> None:
    """INSERT `rows`, one statement per table that has any, in the dict's order."""
    for table, values in rows.items():
        if values:  # an empty list would insert one row of defaults
            await executor.execute(insert(table), values)


def insert_rows_sync(connection: Connection, rows: NewRows) -> None:
    """insert_rows on a synchronous connection (the SQLite group-commit writer's thread)."""
    for table, values in rows.items():
        if values:
            connection.execute(insert(table), values)

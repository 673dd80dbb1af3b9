"""The migrations build the schema the models describe: after `alembic upgrade head` on an empty database,
Alembic's comparison finds nothing to add, drop or change in the tables the models map (the full-text and
vocabulary tables the migrations manage with raw SQL are not mapped and are left out)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text

from taskstream.store.db import create_engine, migrate
from taskstream.store.tables import Base
from tests.integration.old_schema import insert_user_and_task, migrate_to

# PostgreSQL only, made by migration 0003 with raw SQL (a generated tsvector and its GIN index): no model has
# them, so the same models serve SQLite.
POSTGRES_SEARCH = {("column", "search"), ("index", "ix_tasks_user_search")}


def _mapped(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return getattr(table, "name", name) in Base.metadata.tables and (type_, name) not in POSTGRES_SEARCH


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"include_object": _mapped, "compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _describe(difference: Any) -> str:
    if isinstance(difference, list):  # column modifications come as a list of tuples
        return "; ".join(_describe(d) for d in difference)
    operation, *args = difference
    return f"{operation} " + " ".join(str(getattr(a, "name", a)) for a in args[:3])


async def test_the_migrated_schema_is_the_models_schema(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        async with engine.connect() as connection:
            found = await connection.run_sync(_differences)
        assert found == [], "\n".join(_describe(d) for d in found)
    finally:
        await engine.dispose()


async def test_0013_keeps_each_reminders_offset_as_a_duration_and_back(database_url: str) -> None:
    """Whole days become "P<n>D" (the form the API showed for them), the rest hours and minutes; downgrading
    gives the seconds back."""
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(migrate_to, "0012")
            await insert_user_and_task(
                connection, title="Call", priority=0, at=datetime(2026, 12, 3, tzinfo=UTC)
            )
            for n, (kind, seconds) in enumerate(
                [("before", 86400), ("before", 5400), ("before", 0), ("at", None)]
            ):
                await connection.execute(
                    text(
                        "INSERT INTO reminders (id, task_id, user_id, kind, offset_s, position, state) "
                        "VALUES (:id, 't1', 'u1', :kind, :seconds, :n, 'pending')"
                    ),
                    {"id": f"r{n}", "kind": kind, "seconds": seconds, "n": n},
                )
            await connection.run_sync(migrate_to, "0013")
            rows = await connection.execute(text("SELECT duration FROM reminders ORDER BY position"))
            assert [r[0] for r in rows] == ["P1D", "PT1H30M", "PT0S", None]
            await connection.run_sync(migrate_to, "0012", down=True)
            rows = await connection.execute(text("SELECT offset_s FROM reminders ORDER BY position"))
            assert [r[0] for r in rows] == [86400, 5400, 0, None]
    finally:
        await engine.dispose()

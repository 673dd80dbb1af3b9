"""The migrations build the schema the models describe: after `alembic upgrade head` on an empty database,
Alembic's comparison finds nothing to add, drop or change in the tables the models map (the full-text and
vocabulary tables the migrations manage with raw SQL are not mapped and are left out)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from taskstream.store.db import create_engine, migrate
from taskstream.store.tables import Base

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

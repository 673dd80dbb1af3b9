"""Alembic environment: runs on the connection handed over by taskstream.store.db.migrate."""

from __future__ import annotations

from alembic import context

from taskstream.store.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `taskstream migrate`, which supplies the database connection")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()

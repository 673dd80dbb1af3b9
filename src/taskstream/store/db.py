"""Engine creation (SQLite WAL or PostgreSQL/asyncpg) and Alembic migrations applied at start."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from taskstream.store.files import private_file
from taskstream.store.uow import EACH_STATEMENT, READ_ONLY, is_connection_error

log = structlog.get_logger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
# pg_advisory_xact_lock key serialising concurrent `migrate` runs (api and relay replicas starting together).
MIGRATION_LOCK_KEY = 0x7A5C_0001
# Set on every PostgreSQL connection. asyncpg prepares each statement once per connection; after five runs
# PostgreSQL may keep one generic plan for every user and search term, which walks the due index for a rare
# term or bitmaps every match of a common one (TaskViews.find). Plan each statement for its own values.
PG_SERVER_SETTINGS = {"plan_cache_mode": "force_custom_plan"}


def create_engine(
    url: str, *, pool_size: int = 10, max_overflow: int = 10, pool_timeout_s: float = 5.0
) -> AsyncEngine:
    """An async engine for `url`. SQLite: WAL, foreign keys, 5 s busy timeout; creates the file (mode 0600)
    and its directory (0700) when missing."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
            private_file(Path(parsed.database))
        kwargs["connect_args"] = {"timeout": 5}
    else:
        kwargs.update(
            pool_size=pool_size, max_overflow=max_overflow, pool_timeout=pool_timeout_s, pool_pre_ping=True
        )
        kwargs["connect_args"] = {
            "timeout": pool_timeout_s,
            "command_timeout": 30,
            "server_settings": PG_SERVER_SETTINGS,
        }
    engine = create_async_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def create_sqlite_writer_engine(url: URL) -> Engine:
    """A synchronous engine (the sqlite3 driver) on the SQLite database of the async engine at `url`.

    Same pragmas and BEGIN IMMEDIATE as create_engine; one connection, for one writer thread at a time.
    """
    engine = create_sync_engine(
        url.set(drivername="sqlite"), pool_size=1, max_overflow=0, connect_args={"timeout": 5}
    )
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def sqlite_inline_connection(url: URL) -> sqlite3.Connection:
    """A synchronous connection to the SQLite database of the async engine at `url` for reads on the event
    loop's thread (store/raw.py InlineReads): autocommit, query-only, and a busy timeout of 0 (a busy
    database answers at once; the reader then goes to the pool)."""
    database = url.database or ""
    connection = sqlite3.connect(
        database, uri=database.startswith("file:"), timeout=0, isolation_level=None, check_same_thread=False
    )
    connection.execute("PRAGMA query_only=ON")
    return connection


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Take the write lock when a transaction begins (BEGIN IMMEDIATE): a deferred transaction that reads and
    # then writes fails at once with "database is locked" when another writer committed in between.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # Readers take no lock (WAL gives them a snapshot); writers take the write lock up front.
    options = connection.get_execution_options()
    if options.get(EACH_STATEMENT, False):
        return  # sqlite3 runs each statement on its own then (isolation_level None); the ROLLBACK is a no-op
    connection.exec_driver_sql("BEGIN" if options.get(READ_ONLY, False) else "BEGIN IMMEDIATE")


def alembic_config() -> Config:
    """Alembic configuration pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def migrate(engine: AsyncEngine) -> None:
    """Apply every pending Alembic migration (idempotent; PostgreSQL: one at a time, advisory lock)."""
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Held until this transaction ends: a second migrator waits, then finds the schema at head.
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        await connection.run_sync(_upgrade)


def _at_head(connection: Connection) -> bool:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    return MigrationContext.configure(connection).get_current_revision() == head


async def schema_ready(engine: AsyncEngine) -> bool:
    """True when the database answers and its schema is at the newest migration."""
    async with engine.connect() as connection:
        return await connection.run_sync(_at_head)


async def wait_for_schema(engine: AsyncEngine, *, timeout_s: float = 120.0, poll_s: float = 1.0) -> None:
    """Wait until another process (api or relay) migrated the database; TimeoutError after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if await schema_ready(engine):
                return
            reason = "schema not migrated yet"
        except Exception as error:
            if not is_connection_error(error):
                raise
            reason = f"database unreachable: {type(error).__name__}"
        if time.monotonic() >= deadline:
            raise TimeoutError(f"the database schema was not ready within {timeout_s} s ({reason})")
        log.info("waiting for the database schema", reason=reason)
        await asyncio.sleep(poll_s)

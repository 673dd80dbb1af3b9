"""Benchmark 3: search and list at 10k, 100k and 1M tasks (--quick: 10k), one user holding up to 100k of them.

Each query goes through the real server (GET /api/v1/tasks as the big user, one client, one request at a
time). The ceiling is the statements the repository sends for that query (captured from SQLAlchemy's
before_cursor_execute in this process: the plan's look-ups (prefix expansion; on SQLite the match count), then
one or two list statements), replayed in order on the raw driver (sqlite3 / asyncpg): what the database itself
needs, without ORM, service, pydantic, HTTP, nor the two follow-up queries for tags and reminders.
Sizes grow in place: 10k tasks of the big user, +90k of the big user, +900k spread over 900 other users.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event

from bench import seed
from bench.common import (
    JWT_SECRET,
    Options,
    Row,
    Server,
    create_pg_database,
    drop_pg_database,
    ms,
    percentile,
    pg_url,
    sqlite_url,
)

TARGET_P99_MS = 25.0
TARGET_SIZE = 1_000_000
LIMIT = 50


def queries() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """name → (HTTP query parameters, TaskQuery fields the route builds from them)."""
    today = seed.NOW.date()
    until = today + timedelta(days=30)

    def bound(day: date) -> tuple[datetime, date]:
        return datetime.combine(day, dtime(0), UTC), day

    two = " ".join(seed.TWO_TERMS)
    return {
        "rare-term search": ({"q": seed.RARE}, {"q": seed.RARE}),
        "two-term search": ({"q": two}, {"q": two}),
        "prefix search": ({"q": seed.PREFIX}, {"q": seed.PREFIX}),
        "short-prefix search": ({"q": seed.SHORT_PREFIX}, {"q": seed.SHORT_PREFIX}),
        "common-term search": ({"q": seed.COMMON}, {"q": seed.COMMON}),
        "filtered list (tag+priority+due)": (
            {
                "tag": seed.TAG,
                "priority": "high",
                "due_after": today.isoformat(),
                "due_before": until.isoformat(),
            },
            {"tags": [seed.TAG], "priorities": [3], "due_after": bound(today), "due_before": bound(until)},
        ),
    }


def steps(sizes: list[int]) -> Iterator[tuple[int, list[str], Iterator[seed.TaskRow]]]:
    """(size reached, users to add, rows to add) for each size in turn."""
    big = seed.user_id(0)
    have = 0
    for size in sizes:
        big_rows = min(size, 100_000) - min(have, 100_000)
        others = max(0, size - 100_000) - max(0, have - 100_000)
        first_other = max(0, have - 100_000) // 1000 + 1
        n_users = others // 1000
        users = [seed.user_id(first_other + i) for i in range(n_users)]
        rows = itertools.chain(
            seed.tasks(big, big_rows, seed=have + 1),
            *(seed.tasks(u, 1000, seed=1_000_000 + first_other + i) for i, u in enumerate(users)),
        )
        yield size, ([big] if have == 0 else []) + users, rows
        have = size


async def timed(call: Callable[[], Awaitable[object]], *, budget_s: float, max_n: int) -> list[float]:
    """Latencies (s) of sequential calls: 3 warm-up calls, then until budget_s or max_n (at least 10)."""
    for _ in range(3):
        await call()
    samples: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(samples) < max_n and (len(samples) < 10 or time.perf_counter() < deadline):
        t0 = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - t0)
    return samples


async def capture_sql(url: str, fields: dict[str, Any]) -> list[tuple[str, Any]]:
    """The (statement, parameters) pairs the repository sends to the driver for this list query, in order."""
    from taskstream.features.tasks.query import TaskQuery
    from taskstream.store.db import create_engine
    from taskstream.store.uow import UnitOfWorkFactory

    engine = create_engine(url)
    seen: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        head = statement.lstrip().upper()
        reads = "FROM TASKS" in head or "FROM SEARCH_VOCABULARY" in head  # tasks_fts on SQLite too
        if reads and head.startswith(("SELECT", "WITH")):
            seen.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", grab)
    try:
        async with UnitOfWorkFactory(engine).views() as views:
            await views.find(TaskQuery(user_id=seed.user_id(0), limit=LIMIT, **fields))
    finally:
        await engine.dispose()
    return seen


class Backend:
    """One database under test: how to seed it, serve it, and run raw SQL on it."""

    name: str
    url: str

    async def prepare(self) -> None: ...
    async def insert(self, users: list[str], rows: Iterator[seed.TaskRow], *, big: bool) -> None: ...
    def server(self, opts: Options) -> Server:
        raise NotImplementedError

    async def raw(self, statements: list[tuple[str, Any]]) -> Callable[[], Awaitable[object]]:
        raise NotImplementedError

    async def close(self) -> None: ...


class SqliteBackend(Backend):
    def __init__(self, workdir: Path) -> None:
        self.name = "SQLite FTS5"
        self.dir = workdir / "search-sqlite"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "taskstream.db"
        self.url = sqlite_url(self.path)
        self._db: sqlite3.Connection | None = None

    async def prepare(self) -> None:
        await _migrate(self.url)

    async def insert(self, users: list[str], rows: Iterator[seed.TaskRow], *, big: bool) -> None:
        await asyncio.to_thread(seed.sqlite_insert, str(self.path), users, rows)

    def server(self, opts: Options) -> Server:
        return Server(opts.workdir, name="search-sqlite")

    async def raw(self, statements: list[tuple[str, Any]]) -> Callable[[], Awaitable[object]]:
        if self._db is None:
            self._db = sqlite3.connect(self.path)
        db = self._db

        async def call() -> object:
            return [db.execute(statement, parameters).fetchall() for statement, parameters in statements]

        return call

    async def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


class PostgresBackend(Backend):
    def __init__(self) -> None:
        self.name = "PostgreSQL"
        self.database = ""
        self._db: Any = None

    async def prepare(self) -> None:
        self.database = await create_pg_database()
        self.url = pg_url(self.database)
        self.dsn = pg_url(self.database, driver="postgresql")
        await _migrate(self.url)

    async def insert(self, users: list[str], rows: Iterator[seed.TaskRow], *, big: bool) -> None:
        await seed.pg_insert(self.dsn, users, rows, rebuild_indexes=big)

    def server(self, opts: Options) -> Server:
        return Server(opts.workdir, name="search-pg", database_url=self.url)

    async def raw(self, statements: list[tuple[str, Any]]) -> Callable[[], Awaitable[object]]:
        import asyncpg

        from taskstream.store.db import PG_SERVER_SETTINGS

        if self._db is None:  # the app's connection settings (plans for each statement's own values)
            self._db = await asyncpg.connect(self.dsn, server_settings=PG_SERVER_SETTINGS)
        db = self._db

        async def call() -> object:  # no transaction, as the app's reads
            return [await db.fetch(statement, *parameters) for statement, parameters in statements]

        return call

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None
        if self.database:
            await drop_pg_database(self.database)
            self.database = ""


async def _migrate(url: str) -> None:
    from taskstream.store.db import create_engine, migrate

    engine = create_engine(url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


def _label(size: int) -> str:
    return f"{size // 1_000_000}M" if size >= 1_000_000 else f"{size // 1000}k"


async def measure_size(backend: Backend, opts: Options, size: int) -> list[Row]:
    """Every query at this size: through the server, then the captured SQL on the raw driver."""
    from taskstream.features.accounts.tokens import Tokens

    budget, max_n = (1.5, 100) if opts.quick else (3.0, 200)
    token = Tokens(JWT_SECRET, ttl_s=86400).issue(seed.user_id(0), seed.user_id(0), now=datetime.now(UTC))
    server = backend.server(opts)
    await server.start()
    rows = []
    try:
        async with httpx.AsyncClient(
            base_url=server.base, headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as http:
            for name, (params, fields) in queries().items():
                query = {**params, "limit": LIMIT}

                async def call(query: dict[str, Any] = query) -> object:
                    response = await http.get("/api/v1/tasks", params=query)
                    response.raise_for_status()
                    return response

                found = len((await http.get("/api/v1/tasks", params=query)).json()["items"])
                app = await timed(call, budget_s=budget, max_n=max_n)
                statements = await capture_sql(backend.url, fields)
                raw = await timed(await backend.raw(statements), budget_s=budget, max_n=max_n)
                p99 = ms(percentile(app, 99))
                row = Row(
                    bench="3 search",
                    figure=f"{name} @{_label(size)} ({backend.name})",
                    value=p99,
                    unit="ms",
                    detail=f"p50 {ms(percentile(app, 50)):.1f} · p95 {ms(percentile(app, 95)):.1f} · "
                    f"{found} hits shown · n={len(app)}",
                    ceiling=ms(percentile(raw, 99)),
                    lower_is_better=True,
                )
                if size == TARGET_SIZE:
                    row.target = f"p99 ≤ {TARGET_P99_MS:.0f} ms"
                    row.met = p99 <= TARGET_P99_MS
                print(
                    f"  {row.figure}: p99 {p99:.1f} ms · raw SQL p99 {row.ceiling:.1f} ms · {row.detail}",
                    flush=True,
                )
                rows.append(row)
    finally:
        server.stop()
    return rows


async def run(opts: Options) -> list[Row]:
    """Seed and measure each size on SQLite, then on PostgreSQL."""
    sizes = [10_000] if opts.quick else [10_000, 100_000, 1_000_000]
    backends: list[Backend] = [SqliteBackend(opts.workdir)]
    if opts.pg:
        backends.append(PostgresBackend())
    rows: list[Row] = []
    for backend in backends:
        try:
            await backend.prepare()
            for size, users, new_rows in steps(sizes):
                t0 = time.perf_counter()
                await backend.insert(users, new_rows, big=size >= 1_000_000)
                took = time.perf_counter() - t0
                print(f"  seeded {backend.name} to {_label(size)} tasks in {took:.1f} s", flush=True)
                rows.append(
                    Row(
                        "3 search",
                        f"seed to {_label(size)} tasks ({backend.name})",
                        took,
                        "s",
                        detail="bulk insert straight into the tables, indexes included",
                    )
                )
                rows += await measure_size(backend, opts, size)
        finally:
            await backend.close()
    if opts.quick:
        opts.notes.append("--quick: search at 10k tasks only")
    return rows

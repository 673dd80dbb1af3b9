"""Group commit of creates: concurrent creates share transactions, each keeps its own outcome."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from taskstream.domain.errors import DependencyUnavailable
from taskstream.features.tasks.mapping import TASKS
from taskstream.runtime import Runtime
from taskstream.store.group_commit import GroupCommitter, SqliteWriter
from taskstream.store.tables import OutboxRow, Task, TaskTag
from tests.conftest import sign_up


async def _count(runtime: Runtime, table: type) -> int:
    async with runtime.uow.reader() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(table)) or 0)


async def test_concurrent_creates_share_transactions_and_all_land(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await sign_up(client)
    committer: GroupCommitter = runtime.uow.group_commit
    before = committer.transactions

    async def create(n: int) -> httpx.Response:
        body = {"title": f"Task {n}", "tags": ["bulk", f"t{n % 3}"], "reminders": []}
        return await client.post("/api/v1/tasks", json=body, headers=headers)

    responses = await asyncio.gather(*(create(n) for n in range(40)))
    assert [r.status_code for r in responses] == [201] * 40
    assert committer.transactions - before < 40  # some shared a transaction
    assert await _count(runtime, Task) == 40
    assert await _count(runtime, TaskTag) == 80
    assert await _count(runtime, OutboxRow) == 80  # task-events + task-updates per create
    listed = (await client.get("/api/v1/tasks", params={"limit": 200}, headers=headers)).json()["items"]
    assert sorted(t["title"] for t in listed) == sorted(f"Task {n}" for n in range(40))


async def test_a_failing_change_fails_alone(client: httpx.AsyncClient, runtime: Runtime) -> None:
    headers = await sign_up(client)
    first = (await client.post("/api/v1/tasks", json={"title": "Original"}, headers=headers)).json()
    committer: GroupCommitter = runtime.uow.group_commit
    async with runtime.uow.reader() as uow:
        user_id = first["user_id"]
        stored = await uow.tasks.get_any(first["id"])
        clash = {TASKS: [{c.key: getattr(stored, c.key) for c in TASKS.c}]}

    async def create(n: int) -> httpx.Response:
        return await client.post("/api/v1/tasks", json={"title": f"Good {n}"}, headers=headers)

    # The clashing insert (same primary key) is queued together with good creates.
    results = await asyncio.gather(
        *(create(n) for n in range(5)), committer.insert(clash, []), return_exceptions=True
    )
    assert [getattr(r, "status_code", None) for r in results[:5]] == [201] * 5
    assert isinstance(results[5], Exception) and not isinstance(results[5], DependencyUnavailable)
    async with runtime.uow.reader() as uow:
        titles = sorted((await uow.session.scalars(select(Task.title).where(Task.user_id == user_id))).all())
    assert titles == ["Good 0", "Good 1", "Good 2", "Good 3", "Good 4", "Original"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sqlite_creates_are_written_on_the_writer_thread_beside_other_writers(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite: shared transactions run on the writer thread; other writers meanwhile wait their turn."""
    headers = await sign_up(client)
    threads: set[str] = set()
    insert = SqliteWriter._insert

    def spy(self: SqliteWriter, rows: Any) -> None:
        threads.add(threading.current_thread().name)
        insert(self, rows)

    monkeypatch.setattr(SqliteWriter, "_insert", spy)
    first = [
        (await client.post("/api/v1/tasks", json={"title": f"First {n}"}, headers=headers)).json()["id"]
        for n in range(10)
    ]

    async def create(n: int) -> httpx.Response:
        return await client.post("/api/v1/tasks", json={"title": f"Task {n}", "tags": ["x"]}, headers=headers)

    async def complete(task_id: str) -> httpx.Response:
        return await client.post(f"/api/v1/tasks/{task_id}/complete", headers=headers)

    responses = await asyncio.gather(*(create(n) for n in range(30)), *(complete(t) for t in first))
    assert [r.status_code for r in responses] == [201] * 30 + [200] * 10
    assert threads and all(name.startswith("sqlite-writer") for name in threads)
    assert await _count(runtime, Task) == 40
    await runtime.drain()  # every create's events were committed with it and reach the bus
    async with runtime.uow.reader() as uow:
        unsent = await uow.session.scalar(
            select(func.count()).select_from(OutboxRow).where(OutboxRow.sent_at.is_(None))
        )
    assert unsent == 0

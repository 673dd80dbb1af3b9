"""Reads built straight from rows (features/tasks/reads.py) show a task as the entity's TaskOut does."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select

from taskstream.domain.clock import FixedClock
from taskstream.features.tasks.mapping import TASKS
from taskstream.features.tasks.views import task_out
from taskstream.runtime import Runtime
from taskstream.store.raw import CompiledSelects
from taskstream.store.tables import Task
from tests.conftest import sign_up


async def test_get_and_list_give_the_bytes_of_the_entitys_task_out(
    client: httpx.AsyncClient, runtime: Runtime, clock: FixedClock
) -> None:
    headers = await sign_up(client)
    due = clock.now() + timedelta(days=2)
    bodies = [
        {"title": "Timed", "due_at": due.isoformat(), "priority": "high", "tags": ["work", "call"],
         "reminders": [{"before": "PT30M"}, {"at": (due - timedelta(days=1)).isoformat()}],
         "description": "with notes — and ünïcode"},
        {"title": "All day", "due_date": "2031-03-09", "estimate_minutes": 45,
         "reminders": [{"before": "P1D"}], "timezone": "Asia/Kolkata"},
        {"title": "Weekly", "due_at": due.isoformat(), "recurrence": "FREQ=WEEKLY;BYDAY=MO",
         "repeat_from": "completion", "keep_missed": True},
        {"title": "Plain"},
    ]  # fmt: skip
    ids = []
    for body in bodies:
        response = await client.post("/api/v1/tasks", json=body, headers=headers)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    assert (await client.post(f"/api/v1/tasks/{ids[3]}/complete", headers=headers)).status_code == 200
    user_id = (await client.get(f"/api/v1/tasks/{ids[0]}", headers=headers)).json()["user_id"]
    async with runtime.uow() as uow:  # a snoozed notification: a reminder row the API does not show
        row = await uow.tasks.get(ids[0], user_id=user_id)
        assert row is not None
        uow.reminders.add_snooze(row, fire_at=clock.now() + timedelta(hours=3))
        await uow.commit()

    expected = {}
    async with runtime.uow.reader() as uow:
        for task_id in ids:
            entity = await uow.tasks.entity(task_id, user_id=user_id)
            assert entity is not None
            expected[task_id] = task_out(entity).model_dump_json().encode()

    for task_id in ids:
        response = await client.get(f"/api/v1/tasks/{task_id}", headers=headers)
        assert response.status_code == 200
        assert response.content == expected[task_id]
        assert response.headers["content-type"] == "application/json"
        assert response.headers["etag"] == f'"{json.loads(expected[task_id])["version"]}"'
    page = await client.get("/api/v1/tasks", params={"sort": "created", "limit": 10}, headers=headers)
    order = [item["id"] for item in page.json()["items"]]  # created at one instant: by id
    assert order == sorted(ids)
    assert page.content == b'{"items":[' + b",".join(expected[t] for t in order) + b'],"next_cursor":null}'


async def test_compiled_page_statements_read_what_sqlalchemy_reads(
    client: httpx.AsyncClient, runtime: Runtime, clock: FixedClock
) -> None:
    """A shape compiled once serves other values (another user, other bounds, another limit); a list to
    expand at execution goes through SQLAlchemy; observed statements take SQLAlchemy's exec_driver_sql. Each
    way gives the rows SQLAlchemy's own execution gives, with the columns' Python types."""
    due = clock.now() + timedelta(days=1)
    users = []
    for n in range(2):
        headers = await sign_up(client, email=f"user{n}@example.com")
        for i in range(3):
            body = {
                "title": f"u{n} t{i}",
                "due_at": (due + timedelta(hours=i)).isoformat(),
                "priority": "low",
            }
            assert (await client.post("/api/v1/tasks", json=body, headers=headers)).status_code == 201
        items = (await client.get("/api/v1/tasks", headers=headers)).json()["items"]
        users.append(items[0]["user_id"])

    def page(user_id: str, before: datetime, limit: int, *, priorities: list[int] | None = None) -> Any:
        stmt = select(TASKS).where(Task.user_id == user_id, Task.due_sort < before)
        if priorities is not None:
            stmt = stmt.where(Task.priority.in_(priorities))
        return stmt.order_by(Task.due_sort, Task.id).limit(limit)

    pages = CompiledSelects(TASKS)
    statements = [
        page(users[0], due + timedelta(hours=5), 10),
        page(users[1], due + timedelta(hours=1, minutes=30), 10),
        page(users[1], due + timedelta(hours=5), 2),
        page(users[0], due + timedelta(hours=5), 10, priorities=[0, 1]),  # expanding: through SQLAlchemy
    ]
    sent: list[str] = []
    async with runtime.uow.read_connection() as connection:
        expected = [[tuple(row) for row in await connection.execute(stmt)] for stmt in statements]
        driver = [await pages.rows(connection, stmt) for stmt in statements]

        def grab(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            sent.append(statement)

        event.listen(runtime.engine.sync_engine, "before_cursor_execute", grab)
        try:
            observed = [await pages.rows(connection, stmt) for stmt in statements]
        finally:
            event.remove(runtime.engine.sync_engine, "before_cursor_execute", grab)
    assert [len(rows) for rows in expected] == [3, 2, 2, 3]
    assert [[tuple(r) for r in rows] for rows in driver] == expected
    assert [[tuple(r) for r in rows] for rows in observed] == expected
    assert driver[0][0].due_at.tzinfo is UTC and driver[0][0].completed is False
    # One shape serves the first three (user, bound and limit are values); the expanding one is remembered
    # as going through SQLAlchemy.
    assert len(sent) == 4 and sorted(shape is None for shape in pages._shapes.values()) == [False, True]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sqlite_reads_a_task_inline_and_on_the_pool_when_the_database_is_busy(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """SQLite: a GET reads on the event loop's thread without checking out a pooled connection. When SQLite
    answers the inline read busy (as during a checkpoint or a recovery) the same GET reads on a pooled
    connection instead; another error of the inline connection answers 503, and the next read opens a new
    one."""
    headers = await sign_up(client)
    task = (
        await client.post("/api/v1/tasks", json={"title": "Inline", "tags": ["x"]}, headers=headers)
    ).json()
    checkouts: list[object] = []
    event.listen(runtime.engine.sync_engine.pool, "checkout", lambda *args: checkouts.append(args))
    inline = runtime.uow._inline
    assert inline is not None

    async def get() -> httpx.Response:
        return await client.get(f"/api/v1/tasks/{task['id']}", headers=headers)

    response = await get()
    assert response.status_code == 200 and response.json()["tags"] == ["x"] and checkouts == []

    class Failing:
        def __init__(self, message: str, code: int) -> None:
            self.error = sqlite3.OperationalError(message)
            self.error.sqlite_errorcode = code
            self.closed = False

        def execute(self, *_: Any) -> Any:
            raise self.error

        def close(self) -> None:
            self.closed = True

    busy = Failing("database is locked", 261)  # SQLITE_BUSY_RECOVERY
    inline._db = busy  # type: ignore[assignment]
    response = await get()
    assert response.status_code == 200 and response.json()["title"] == "Inline"
    assert len(checkouts) == 1 and inline._db is busy and not busy.closed

    broken = Failing("disk I/O error", 10)
    inline._db = broken  # type: ignore[assignment]
    response = await get()
    assert response.status_code == 503 and broken.closed and inline._db is None
    response = await get()
    assert response.status_code == 200 and len(checkouts) == 1  # inline again, on a new connection

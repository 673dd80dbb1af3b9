"""The four services over the outbox and the in-process bus: exactly-once effects, reminders, restarts."""

from __future__ import annotations

import asyncio
import gc
import json
from datetime import timedelta
from typing import Any

import httpx
import sqlalchemy
from sqlalchemy import func, select

from taskstream.domain.clock import FixedClock
from taskstream.events.envelope import CloudEvent
from taskstream.messaging.bus import Message
from taskstream.messaging.inbox import Outcome
from taskstream.runtime import Runtime
from taskstream.settings import Settings
from taskstream.store.tables import AuditEntry, DeadLetter, InboxRow, Notification, OutboxRow, Task
from taskstream.transports.memory import MemoryBus
from tests.conftest import sign_up


class RecordingSocket:
    """Stands in for a WebSocket: keeps the JSON it was sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, object]] = []

    async def send_text(self, data: str) -> None:
        self.sent.append(json.loads(data))


async def _count(runtime: Runtime, table: type, *where: Any) -> int:
    async with runtime.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(table).where(*where)) or 0)


async def _open_titles_due(client: httpx.AsyncClient, headers: dict[str, str]) -> list[tuple[str, str]]:
    items = (await client.get("/api/v1/tasks", params={"completed": "false"}, headers=headers)).json()[
        "items"
    ]
    return [(t["title"], t["due_at"]) for t in items]


async def test_completing_a_recurring_task_creates_the_next_occurrence_once(
    client: httpx.AsyncClient, runtime: Runtime, clock: FixedClock
) -> None:
    headers = await sign_up(client, timezone="Europe/Berlin")
    body = {
        "title": "Water plants",
        "due_at": "2026-03-03T09:00:00+01:00",
        "recurrence": "FREQ=DAILY;INTERVAL=2",
        "reminders": [{"before": "PT10M"}],
        "tags": ["home"],
        "priority": "medium",
    }
    task = (await client.post("/api/v1/tasks", json=body, headers=headers)).json()
    await client.post(f"/api/v1/tasks/{task['id']}/complete", headers=headers)
    await runtime.drain()
    # Completed a day early (Monday for Tuesday): the next occurrence is Thursday 09:00 Berlin.
    assert await _open_titles_due(client, headers) == [("Water plants", "2026-03-05T08:00:00Z")]
    nxt = (await client.get("/api/v1/tasks", params={"completed": "false"}, headers=headers)).json()["items"][
        0
    ]
    assert (nxt["series_id"], nxt["tags"], nxt["priority"]) == (task["id"], ["home"], "medium")
    assert [(r["before"], r["fire_at"]) for r in nxt["reminders"]] == [("PT10M", "2026-03-05T07:50:00Z")]
    # Reopen and complete again: nothing new. Replay the completion event by hand: nothing new.
    await client.post(f"/api/v1/tasks/{task['id']}/reopen", headers=headers)
    await client.post(f"/api/v1/tasks/{task['id']}/complete", headers=headers)
    await runtime.drain()
    assert isinstance(runtime.bus, MemoryBus)
    completions = [
        m for m in runtime.bus.published if m.topic == "task-events" and b"completed.v1" in m.value
    ]
    await runtime.bus.publish(completions)
    await runtime.drain()
    assert await _count(runtime, Task, Task.series_id == task["id"]) == 2
    assert await _open_titles_due(client, headers) == [("Water plants", "2026-03-05T08:00:00Z")]


async def test_series_with_count_ends(client: httpx.AsyncClient, runtime: Runtime) -> None:
    headers = await sign_up(client)
    body = {"title": "twice", "due_date": "2026-03-02", "recurrence": "FREQ=DAILY;COUNT=2"}
    first = (await client.post("/api/v1/tasks", json=body, headers=headers)).json()
    await client.post(f"/api/v1/tasks/{first['id']}/complete", headers=headers)
    await runtime.drain()
    second = (await client.get("/api/v1/tasks", params={"completed": "false"}, headers=headers)).json()[
        "items"
    ]
    assert [t["due_date"] for t in second] == ["2026-03-03"]
    await client.post(f"/api/v1/tasks/{second[0]['id']}/complete", headers=headers)
    await runtime.drain()
    assert (await client.get("/api/v1/tasks", params={"completed": "false"}, headers=headers)).json()[
        "items"
    ] == []


async def test_reminder_fires_once_and_reaches_only_its_user(
    client: httpx.AsyncClient, runtime: Runtime, clock: FixedClock
) -> None:
    ada = await sign_up(client, "ada@example.com")
    bob = await sign_up(client, "bob@example.com")
    ada_id = (await client.get("/api/v1/me", headers=ada)).json()["id"]
    bob_id = (await client.get("/api/v1/me", headers=bob)).json()["id"]
    ada_socket, bob_socket = RecordingSocket(), RecordingSocket()
    assert runtime.hub is not None
    runtime.hub.add(ada_id, ada_socket)
    runtime.hub.add(bob_id, bob_socket)
    body = {"title": "stand-up", "due_at": "2026-03-02T08:10:00Z", "reminders": [{"before": "PT9M"}]}
    task = (await client.post("/api/v1/tasks", json=body, headers=ada)).json()
    await runtime.drain()
    clock.advance(timedelta(seconds=59))
    await runtime.drain()
    assert (await client.get("/api/v1/notifications", headers=ada)).json() == []
    clock.advance(timedelta(seconds=1))  # 08:01:00, the fire time
    await runtime.drain()
    await runtime.scheduler.fire_due()  # a second scan finds nothing to fire
    reminder_events = [m for m in runtime.bus.published if m.topic == "reminders"]  # type: ignore[attr-defined]
    await runtime.bus.publish(reminder_events)  # and a redelivered reminder has no second effect
    await runtime.drain()
    notes = (await client.get("/api/v1/notifications", headers=ada)).json()
    assert [(n["title"], n["remind_at"], n["read_at"]) for n in notes] == [
        ("stand-up", "2026-03-02T08:01:00Z", None)
    ]
    pushed = [m["type"] for m in ada_socket.sent]
    assert pushed.count("com.taskstream.notification.created.v1") == 1
    assert "com.taskstream.task.created.v1" in pushed
    assert bob_socket.sent == []
    assert (await client.get("/api/v1/notifications", headers=bob)).json() == []
    read = await client.post(f"/api/v1/notifications/{notes[0]['id']}/read", headers=ada)
    assert read.json()["read_at"] == "2026-03-02T08:01:00Z"
    assert (await client.post(f"/api/v1/notifications/{notes[0]['id']}/read", headers=bob)).status_code == 404
    assert (await client.post(f"/api/v1/notifications/{notes[0]['id']}/read", headers=ada)).status_code == 200
    await runtime.drain()
    read_events = [m for m in ada_socket.sent if m["type"] == "com.taskstream.notification.read.v1"]
    assert [e["data"] for e in read_events] == [  # once: reading it again changes nothing
        {"id": notes[0]["id"], "task_id": task["id"], "user_id": ada_id, "read_at": "2026-03-02T08:01:00Z"}
    ]
    assert bob_socket.sent == []
    assert task["id"] == notes[0]["task_id"]


async def test_no_reminder_for_completed_or_deleted_task(
    client: httpx.AsyncClient, runtime: Runtime, clock: FixedClock
) -> None:
    headers = await sign_up(client)
    for title in ("done", "gone"):
        body = {"title": title, "due_at": "2026-03-02T09:00:00Z", "reminders": [{"before": "PT30M"}]}
        task = (await client.post("/api/v1/tasks", json=body, headers=headers)).json()
        if title == "done":
            await client.post(f"/api/v1/tasks/{task['id']}/complete", headers=headers)
        else:
            await client.delete(f"/api/v1/tasks/{task['id']}", headers=headers)
    clock.advance(timedelta(hours=2))
    await runtime.drain()
    assert await _count(runtime, Notification) == 0
    assert [m for m in runtime.bus.published if m.topic == "reminders"] == []  # type: ignore[attr-defined]


async def test_snooze_fires_again_later(
    client: httpx.AsyncClient, runtime: Runtime, clock: FixedClock
) -> None:
    headers = await sign_up(client)
    body = {"title": "call", "due_at": "2026-03-02T09:00:00Z", "reminders": [{"at": "2026-03-02T08:05:00Z"}]}
    await client.post("/api/v1/tasks", json=body, headers=headers)
    clock.advance(timedelta(minutes=5))
    await runtime.drain()
    first = (await client.get("/api/v1/notifications", headers=headers)).json()[0]
    snoozed = await client.post(
        f"/api/v1/notifications/{first['id']}/snooze", json={"for": "PT10M"}, headers=headers
    )
    assert snoozed.status_code == 200
    bad = await client.post(
        f"/api/v1/notifications/{first['id']}/snooze", json={"for": "soon"}, headers=headers
    )
    assert (bad.status_code, bad.json()["field"]) == (422, "for")
    clock.advance(timedelta(minutes=9))
    await runtime.drain()
    assert len((await client.get("/api/v1/notifications", headers=headers)).json()) == 1
    clock.advance(timedelta(minutes=1))
    await runtime.drain()
    assert [n["remind_at"] for n in (await client.get("/api/v1/notifications", headers=headers)).json()] == [
        "2026-03-02T08:15:00Z",
        "2026-03-02T08:05:00Z",
    ]


async def test_audit_has_one_entry_per_event_with_changes(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await sign_up(client)
    task = (await client.post("/api/v1/tasks", json={"title": "draft"}, headers=headers)).json()
    await client.patch(
        f"/api/v1/tasks/{task['id']}", json={"title": "final", "priority": "high"}, headers=headers
    )
    await client.post(f"/api/v1/tasks/{task['id']}/complete", headers=headers)
    await client.delete(f"/api/v1/tasks/{task['id']}", headers=headers)
    await runtime.drain()
    await runtime.bus.publish([m for m in runtime.bus.published if m.topic == "task-events"])  # type: ignore[attr-defined]
    await runtime.drain()
    history = (await client.get(f"/api/v1/tasks/{task['id']}/history", headers=headers)).json()
    assert [e["event_type"] for e in history] == ["deleted", "completed", "updated", "created"]
    assert history[2]["changes"] == {
        "title": {"old": "draft", "new": "final"},
        "priority": {"old": "none", "new": "high"},
    }
    assert await _count(runtime, AuditEntry) == 4


def _hand_made(event_id: str, kind: str, data: dict[str, object]) -> bytes:
    """A task event as another producer might send it (for poison and batch tests)."""
    return CloudEvent(
        id=event_id,
        type=f"com.taskstream.task.{kind}.v1",
        time="2026-03-02T08:00:00Z",
        partitionkey="u1",
        data=data,
    ).to_json()


GOOD_DATA: dict[str, object] = {
    "event_type": "created",
    "task_id": "t1",
    "user_id": "u1",
    "timestamp": "2026-03-02T08:00:00Z",
    "task_data": {
        "id": "t1",
        "user_id": "u1",
        "title": "fine",
        "timezone": "UTC",
        "series_id": "t1",
        "created_at": "2026-03-02T08:00:00Z",
        "updated_at": "2026-03-02T08:00:00Z",
        "version": 1,
    },
}


async def test_poison_and_malformed_events_go_to_the_dead_letter_topic(runtime: Runtime) -> None:
    await runtime.bus.publish(
        [
            Message("task-events", "u1", b"{not json"),
            Message("task-events", "u1", _hand_made("e-poison", "completed", {"event_type": "completed"})),
            Message("task-events", "u1", _hand_made("e-good", "created", GOOD_DATA)),
        ]
    )
    async with runtime.uow() as uow:
        letters = list(await uow.session.scalars(select(DeadLetter).order_by(DeadLetter.id)))
    # Malformed: dead-lettered once per consumer group at once; poison: after 3 attempts in each group.
    assert sorted((d.consumer, d.attempts) for d in letters) == [
        ("audit", 0),
        ("audit", 3),
        ("recurring", 0),
        ("recurring", 3),
    ]
    assert {d.topic for d in letters} == {"task-events.dlq"}
    assert await _count(runtime, AuditEntry, AuditEntry.event_id == "e-good") == 1
    dlq = [m for m in runtime.bus.published if m.topic == "task-events.dlq"]  # type: ignore[attr-defined]
    assert len(dlq) == 4 and all("error" in m.headers for m in dlq)


async def test_restart_loses_nothing(settings: Settings, clock: FixedClock) -> None:
    """Events not yet relayed and reminders not yet due survive a stop; both happen after the restart."""
    first = Runtime(settings, clock=clock)
    await first.start(background=False)
    from taskstream.api.app import create_app

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(first.api_context(), first.engine)), base_url="http://t"
    ) as client:
        headers = await sign_up(client)
        body = {"title": "later", "due_at": "2026-03-02T09:00:00Z", "reminders": [{"before": "PT30M"}]}
        await client.post("/api/v1/tasks", json=body, headers=headers)
    await first.stop()  # nothing relayed yet
    second = Runtime(settings, clock=clock)
    await second.start(background=False)
    try:
        assert await _count(second, OutboxRow, OutboxRow.sent_at.is_(None)) == 2
        await second.drain()
        assert await _count(second, AuditEntry) == 1
        clock.advance(timedelta(minutes=30))
        await second.drain()
        assert await _count(second, Notification) == 1
    finally:
        await second.stop()


async def test_a_batch_with_a_poison_event_falls_back_to_one_by_one(runtime: Runtime) -> None:
    """One transaction per batch; a failure in it rolls the batch back and each event goes alone."""

    good = GOOD_DATA | {"event_type": "completed"}
    batch = [
        _hand_made("b-1", "completed", good),
        _hand_made("b-2", "completed", {"event_type": "completed"}),
        _hand_made("b-3", "completed", good),
        _hand_made("b-1", "completed", good),
    ]
    await runtime.bus.publish([Message("task-events", "u1", value) for value in batch])
    assert await _count(runtime, AuditEntry) == 2
    async with runtime.uow() as uow:
        letters = [
            tuple(row) for row in await uow.session.execute(select(DeadLetter.consumer, DeadLetter.attempts))
        ]
    assert sorted(letters) == [("audit", 3), ("recurring", 3)]


async def test_a_batch_a_consumer_ignores_takes_no_transaction(runtime: Runtime) -> None:
    """recurring acts on `completed` only: a batch of `created` events is acknowledged without opening a
    unit of work, so on SQLite it does not queue behind the writer (held here for the whole test)."""
    from taskstream.features.tasks.recurring import RecurringHandlers
    from taskstream.messaging.inbox import Consumer, DeadLetters, RetryPolicy

    consumer = Consumer(
        "recurring",
        RecurringHandlers(runtime.tasks).handle,
        uow=runtime.uow,
        clock=runtime.clock,
        dead_letters=DeadLetters(runtime.uow, runtime.bus, runtime.clock),
        policy=RetryPolicy(3, 0.0),
        acts_on=RecurringHandlers.acts_on,
    )
    created = [Message("task-events", "u1", _hand_made(f"c-{n}", "created", GOOD_DATA)) for n in range(3)]
    async with runtime.uow() as writer:
        await writer.session.execute(select(1))
        outcomes = await asyncio.wait_for(consumer.handle_batch(created), timeout=2.0)
    assert outcomes == [Outcome.PROCESSED] * 3
    assert await _count(runtime, InboxRow) == 0


async def test_consumers_record_only_the_events_they_act_on(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """Audit keeps every task event; recurring records a completion only when the task repeats, and
    notifications none of the task events on the reminders topic: no inbox row, no transaction for them."""
    headers = await sign_up(client)
    once = (await client.post("/api/v1/tasks", json={"title": "Once"}, headers=headers)).json()
    body = {"title": "Daily", "due_at": "2030-01-01T09:00:00Z", "recurrence": "FREQ=DAILY"}
    daily = (await client.post("/api/v1/tasks", json=body, headers=headers)).json()
    for task in (once, daily):
        assert (await client.post(f"/api/v1/tasks/{task['id']}/complete", headers=headers)).status_code == 200
    await runtime.drain()
    async with runtime.uow() as uow:
        rows = await uow.session.execute(select(InboxRow.consumer, func.count()).group_by(InboxRow.consumer))
        recorded = {consumer: n for consumer, n in rows}
    # created ×2, completed ×2 and the next occurrence's created: five task events.
    assert recorded == {"audit": 5, "recurring": 1}
    assert await _count(runtime, Task, Task.series_id == daily["id"]) == 2


async def test_a_batch_of_reminders_loads_their_tasks_in_one_query(
    client: httpx.AsyncClient, runtime: Runtime, clock: FixedClock
) -> None:
    """The scheduler and the notifications consumer each read a batch's tasks with one IN query, never one
    task at a time (a round trip, and on SQLite a wait on the driver's thread, per reminder)."""
    headers = await sign_up(client)
    for n in range(5):
        body = {"title": f"call {n}", "due_at": "2026-03-02T08:30:00Z", "reminders": [{"before": "PT10M"}]}
        assert (await client.post("/api/v1/tasks", json=body, headers=headers)).status_code == 201
    await runtime.drain()
    one_by_one: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "FROM tasks" in statement and "tasks.id = " in statement:
            one_by_one.append(statement)

    sqlalchemy.event.listen(runtime.engine.sync_engine, "before_cursor_execute", note)
    clock.advance(timedelta(minutes=21))
    await runtime.drain()
    sqlalchemy.event.remove(runtime.engine.sync_engine, "before_cursor_execute", note)
    assert await _count(runtime, Notification) == 5
    assert one_by_one == []


async def test_a_server_process_freezes_its_start_up_heap(settings: Settings, clock: FixedClock) -> None:
    """The server's app (build_app(freeze_heap=True), as `up` and `serve` run it) moves what start-up made
    out of the collector's full passes once the runtime is started; the default app leaves the heap."""
    gc.unfreeze()
    try:
        for freeze, frozen in ((False, False), (True, True)):
            runtime = Runtime(settings, services=("api",), clock=clock)
            app = runtime.build_app(freeze_heap=freeze)
            async with app.router.lifespan_context(app):
                assert (gc.get_freeze_count() > 0) is frozen
    finally:
        gc.unfreeze()

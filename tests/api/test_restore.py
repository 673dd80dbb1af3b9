"""Undo of a delete: POST /tasks/{id}/restore brings the same task back, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx

from taskstream.domain.clock import FixedClock
from taskstream.events import topics
from taskstream.runtime import Runtime
from taskstream.transports.memory import MemoryBus
from tests.conftest import sign_up


async def test_a_deleted_task_comes_back_with_its_id_tags_reminders_and_history(
    client: httpx.AsyncClient, runtime: Runtime, clock: FixedClock
) -> None:
    headers = await sign_up(client, timezone="Europe/Berlin")
    body = {
        "title": "Water plants",
        "tags": ["home", "garden"],
        "priority": "high",
        "due_at": "2026-03-04T09:00:00+01:00",
        "recurrence": "FREQ=DAILY",
        "reminders": [{"before": "PT10M"}, {"at": "2026-03-04T06:00:00Z"}],
        "estimate_minutes": 15,
    }
    created = (await client.post("/api/v1/tasks", json=body, headers=headers)).json()
    url = f"/api/v1/tasks/{created['id']}"
    task = (await client.get(url, headers=headers)).json()
    assert (await client.delete(url, headers=headers)).status_code == 204
    assert (await client.get(url, headers=headers)).status_code == 404
    assert (await client.get("/api/v1/tags", headers=headers)).json() == []

    clock.advance(timedelta(seconds=4))
    answer = await client.post(f"{url}/restore", headers=headers)
    assert answer.status_code == 200, answer.text
    back = answer.json()
    unchanged = {k: v for k, v in task.items() if k not in ("version", "updated_at")}
    assert {k: v for k, v in back.items() if k not in ("version", "updated_at")} == unchanged
    assert (back["version"], back["updated_at"]) == (task["version"] + 1, "2026-03-02T08:00:04Z")
    assert (await client.get(url, headers=headers)).json() == back
    tags = (await client.get("/api/v1/tags", headers=headers)).json()
    assert [(t["name"], t["open_count"]) for t in tags] == [("garden", 1), ("home", 1)]
    assert [
        t["id"]
        for t in (await client.get("/api/v1/tasks", params={"q": "plants"}, headers=headers)).json()["items"]
    ] == [task["id"]]

    # Restoring again changes nothing: the task is there.
    again = await client.post(f"{url}/restore", headers=headers)
    assert (again.status_code, again.json()) == (200, back)

    await runtime.drain()
    history = (await client.get(f"{url}/history", headers=headers)).json()
    assert [e["event_type"] for e in history] == ["restored", "deleted", "created"]
    assert isinstance(runtime.bus, MemoryBus)
    updates = [json.loads(m.value) for m in runtime.bus.published if m.topic == topics.TASK_UPDATES]
    assert [e["type"] for e in updates if e["subject"] == task["id"]] == [
        "com.taskstream.task.created.v1",
        "com.taskstream.task.deleted.v1",
        "com.taskstream.task.restored.v1",
    ]

    # Its reminder still fires, once.
    clock.advance(timedelta(days=2))
    await runtime.drain()
    notes = (await client.get("/api/v1/notifications", headers=headers)).json()
    assert sorted(n["remind_at"] for n in notes) == ["2026-03-04T06:00:00Z", "2026-03-04T07:50:00Z"]


async def test_restore_is_only_for_the_owner_and_only_within_the_retention(
    client: httpx.AsyncClient, runtime: Runtime, clock: FixedClock
) -> None:
    alice, bob = await sign_up(client), await sign_up(client, email="bob@example.com")
    task = (await client.post("/api/v1/tasks", json={"title": "Mine"}, headers=alice)).json()
    url = f"/api/v1/tasks/{task['id']}"
    await client.delete(url, headers=alice)
    for who, path in ((bob, f"{url}/restore"), (alice, "/api/v1/tasks/no-such-task/restore")):
        answer = await client.post(path, headers=who)
        assert (answer.status_code, answer.json()["field"]) == (404, "id")
    assert (await client.post(f"{url}/restore", headers=bob)).status_code == 404
    assert (await client.get(url, headers=bob)).status_code == 404

    await client.post(f"{url}/restore", headers=alice)
    await client.delete(url, headers=alice)
    clock.advance(timedelta(days=8))  # past the 7-day outbox retention
    await runtime.relay.cleanup()
    assert (await client.post(f"{url}/restore", headers=alice)).status_code == 404


async def test_an_occurrence_made_again_meanwhile_is_a_conflict(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await sign_up(client)
    body = {"title": "Stretch", "due_date": "2026-03-03", "recurrence": "FREQ=DAILY"}
    first = (await client.post("/api/v1/tasks", json=body, headers=headers)).json()
    await client.post(f"/api/v1/tasks/{first['id']}/complete", headers=headers)
    await runtime.drain()
    [second] = (await client.get("/api/v1/tasks", params={"completed": "false"}, headers=headers)).json()[
        "items"
    ]
    assert second["due_date"] == "2026-03-04"
    await client.delete(f"/api/v1/tasks/{second['id']}", headers=headers)
    await client.post(f"/api/v1/tasks/{first['id']}/reopen", headers=headers)
    await client.post(f"/api/v1/tasks/{first['id']}/complete", headers=headers)
    await runtime.drain()  # the recurring service makes the 4 March occurrence again
    answer = await client.post(f"/api/v1/tasks/{second['id']}/restore", headers=headers)
    assert (answer.status_code, answer.json()["field"]) == (409, "id")
    assert (await client.get(f"/api/v1/tasks/{second['id']}", headers=headers)).status_code == 404

"""Reads built straight from rows (features/tasks/reads.py) show a task as the entity's TaskOut does."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx

from taskstream.domain.clock import FixedClock
from taskstream.features.tasks.views import task_out
from taskstream.runtime import Runtime
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

"""Saving a task entity writes what its use case changed and nothing a concurrent writer changed since."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update

from taskstream.domain.clock import FixedClock
from taskstream.runtime import Runtime
from taskstream.store.tables import Reminder
from tests.conftest import sign_up


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # SQLite has one writer at a time
async def test_a_reminder_fired_while_its_task_is_completed_stays_fired(
    client: httpx.AsyncClient, runtime: Runtime, clock: FixedClock
) -> None:
    headers = await sign_up(client)
    due = clock.now() + timedelta(hours=1)
    body = {
        "title": "Call",
        "due_at": due.isoformat(),
        "reminders": [{"before": "PT30M"}, {"before": "PT10M"}],
    }
    task = (await client.post("/api/v1/tasks", json=body, headers=headers)).json()
    first, second = (r["id"] for r in task["reminders"])

    async with runtime.uow() as uow:  # the complete use case, up to its save
        entity = await uow.tasks.entity(task["id"], user_id=task["user_id"], for_update=True)
        assert entity is not None
        async with runtime.uow() as scheduler:  # meanwhile the scheduler fires the first reminder
            await scheduler.session.execute(
                update(Reminder).where(Reminder.id == first).values(state="fired", fired_at=datetime.now(UTC))
            )
            await scheduler.commit()
        entity.complete(now=clock.now())
        await uow.tasks.save(entity)
        await uow.commit()

    async with runtime.uow.reader() as uow:
        query = select(Reminder.id, Reminder.state).where(Reminder.task_id == task["id"])
        states = {reminder_id: state for reminder_id, state in await uow.session.execute(query)}
    assert states == {first: "fired", second: "cancelled"}

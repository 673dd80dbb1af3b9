"""Two notifications replicas on one PostgreSQL, 2,000 reminders due in one minute: each fires once."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from taskstream.devkafka import KafkaBroker
from taskstream.domain.clock import FixedClock
from taskstream.events.topics import REMINDERS
from taskstream.runtime import Runtime
from taskstream.store.tables import Notification, OutboxRow, Reminder, Task, User
from tests.conftest import START
from tests.faults.conftest import bounded, count, eventually, kafka_settings

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

REMINDERS_DUE = 2000
USERS = 20


async def _seed(runtime: Runtime) -> None:
    """REMINDERS_DUE tasks of USERS users, due 09:00, each with one reminder firing in 08:00-08:01."""
    async with runtime.uow() as uow:
        users = [str(uuid.uuid4()) for _ in range(USERS)]
        for n, user_id in enumerate(users):
            uow.session.add(
                User(
                    id=user_id, email=f"r{n}@example.com", password_hash="-", timezone="UTC", created_at=START
                )
            )
        await uow.session.flush()
        task_ids = [str(uuid.uuid4()) for _ in range(REMINDERS_DUE)]
        due = START + timedelta(hours=1)
        for n, task_id in enumerate(task_ids):
            uow.session.add(
                Task(
                    id=task_id,
                    user_id=users[n % USERS],
                    series_id=task_id,
                    title=f"meeting {n}",
                    due_at=due,
                    due_sort=due,
                    timezone="UTC",
                    created_at=START,
                    updated_at=START,
                )
            )
        await uow.session.flush()  # no ORM relationship orders the inserts: tasks first, for the foreign key
        for n, task_id in enumerate(task_ids):
            user_id = users[n % USERS]
            uow.session.add(
                Reminder(
                    id=str(uuid.uuid4()),
                    task_id=task_id,
                    user_id=user_id,
                    kind="at",
                    at=START + timedelta(seconds=n % 60),
                    fire_at=START + timedelta(seconds=n % 60),
                )
            )
        await uow.commit()


@bounded(240)
async def test_two_notification_replicas_fire_2000_reminders_due_in_one_minute_exactly_once(
    tmp_path: Path, pg_url: str, broker: KafkaBroker
) -> None:
    started = time.monotonic()
    clock = FixedClock(START - timedelta(minutes=1))  # nothing is due yet
    settings = kafka_settings(tmp_path, pg_url, broker)
    # Replica A also runs the relay (it publishes what both schedulers wrote); B is notifications only.
    replica_a = Runtime(settings, services=("notifications", "relay"), clock=clock)
    replica_b = Runtime(settings, services=("notifications",), clock=clock)
    await replica_a.start()
    await replica_b.start()
    try:
        await _seed(replica_a)
        clock.set(START + timedelta(minutes=1))  # every reminder is due now
        replica_a.scheduler.wake()
        replica_b.scheduler.wake()

        async def all_fired() -> bool:
            return await count(replica_a, Reminder, Reminder.state == "pending") == 0

        fired_in = await eventually(all_fired, timeout_s=120, what="every reminder to fire")

        async def all_notified() -> bool:
            return await count(replica_a, Notification) >= REMINDERS_DUE

        await eventually(all_notified, timeout_s=120, what="a notification per reminder")
        async with replica_a.uow() as uow:
            events = list(
                await uow.session.scalars(select(OutboxRow.event_id).where(OutboxRow.topic == REMINDERS))
            )
        fired = await count(replica_a, Reminder, Reminder.state == "fired")
        notifications = await count(replica_a, Notification)
        print(
            f"\n[reminders] due={REMINDERS_DUE}; fired by replica A={replica_a.scheduler.fired}, "
            f"B={replica_b.scheduler.fired}; rows fired={fired}; reminder events={len(events)} "
            f"({len(set(events))} distinct); notifications={notifications}; all fired in {fired_in:.1f}s; "
            f"took {time.monotonic() - started:.1f}s"
        )
        assert replica_a.scheduler.fired + replica_b.scheduler.fired == REMINDERS_DUE
        assert replica_a.scheduler.fired > 0 and replica_b.scheduler.fired > 0  # both really took part
        assert fired == REMINDERS_DUE
        assert len(events) == len(set(events)) == REMINDERS_DUE
        assert notifications == REMINDERS_DUE
    finally:
        await replica_b.stop()
        await replica_a.stop()

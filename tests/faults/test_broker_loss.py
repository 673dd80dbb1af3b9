"""Apache Kafka killed with SIGKILL during a burst, then started on its log, or wiped and started empty.

The services run as separate processes (api, relay, recurring, audit, notifications), as `taskstream up --bus
kafka` runs them. The burst creates plain tasks, recurring tasks that are completed at once (each completion
makes a next occurrence) and tasks with a reminder due within seconds (each makes a notification).
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from taskstream.devkafka import KafkaBroker
from taskstream.events.topics import REMINDERS, TASK_EVENTS
from taskstream.runtime import Runtime
from taskstream.store.db import migrate
from taskstream.store.tables import AuditEntry, DeadLetter, InboxRow, Notification, OutboxRow, Reminder, Task
from taskstream.transports.memory import MemoryBus
from tests.faults.conftest import (
    ROOT,
    ServiceProcess,
    bounded,
    child_env,
    eventually,
    kafka_settings,
    sign_up,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

USERS = 4
BEFORE, DURING, AFTER = 120, 60, 30  # burst operations before the kill, while the broker is down, after
CONSUMERS = ("recurring", "audit", "notifications")
# The client lets idle connections go before uvicorn does (it closes them after 5 s): a request sent on a
# connection the server is closing at that moment fails with ReadError, as after the idle broker restart.
CLIENT_LIMITS = httpx.Limits(keepalive_expiry=2.0)
LAST_PROGRESS: dict[str, int] = {}  # what consumed_everything() counted last (shown when a wait times out)


@dataclass
class Burst:
    """Creates tasks through the api and remembers what it acknowledged."""

    client: httpx.AsyncClient
    users: list[tuple[str, dict[str, str]]]
    created: dict[str, str] = field(default_factory=dict)  # acknowledged task id -> kind
    completed: list[str] = field(default_factory=list)  # acknowledged completions (series ids)
    statuses: Counter[int] = field(default_factory=Counter)
    gate: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(8))

    async def operation(self, n: int) -> None:
        _, headers = self.users[n % USERS]
        kind = ("plain", "recurring", "reminder")[n % 3]
        body: dict[str, Any] = {"title": f"{kind} {n}"}
        if kind == "recurring":
            body |= {"due_date": "2030-01-01", "recurrence": "FREQ=DAILY"}
        async with self.gate:
            if (
                kind == "reminder"
            ):  # due a few seconds after the request (a reminder already past is cancelled)
                at = datetime.now(UTC) + timedelta(seconds=4 + n % 3)
                body |= {
                    "due_at": (at + timedelta(hours=1)).isoformat(),
                    "reminders": [{"at": at.isoformat()}],
                }
            response = await self.client.post("/api/v1/tasks", json=body, headers=headers)
            self.statuses[response.status_code] += 1
            if response.status_code != 201:
                return
            task_id = response.json()["id"]
            self.created[task_id] = kind
            if kind == "recurring":
                done = await self.client.post(f"/api/v1/tasks/{task_id}/complete", headers=headers)
                self.statuses[done.status_code] += 1
                if done.status_code == 200:
                    self.completed.append(task_id)

    async def run(self, start: int, count: int) -> None:
        await asyncio.gather(*(self.operation(n) for n in range(start, start + count)))


class Services:
    """The five service processes on one database and one broker."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.api = ServiceProcess("api", env, tmp_path / "api.log")
        self.others = {
            name: ServiceProcess(name, env, tmp_path / f"{name}.log") for name in ("relay", *CONSUMERS)
        }
        self.all = [self.api, *self.others.values()]

    async def start(self) -> None:
        self.api.start()  # it migrates; the others wait for the schema
        for service in self.others.values():
            service.start()
        await eventually(self._all_ready, timeout_s=90, what="every service to be ready")

    async def _all_ready(self) -> bool:
        return all([(await readyz(service))[0] == 200 for service in self.all])

    def stop(self) -> None:
        for service in self.all:
            service.stop()


async def readyz(service: ServiceProcess) -> tuple[int, dict[str, Any]]:
    try:
        async with httpx.AsyncClient(base_url=service.url, timeout=5) as client:
            response = await client.get("/readyz")
    except httpx.TransportError as error:
        return 0, {"error": repr(error)}
    return response.status_code, response.json()


async def metric(service: ServiceProcess, name: str) -> float:
    """The sum of a metric's samples on `service`'s /metrics."""
    async with httpx.AsyncClient(base_url=service.url, timeout=5) as client:
        text = (await client.get("/metrics")).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    )


def log_events(service: ServiceProcess, level: str) -> list[str]:
    """The `event` of every JSON log line of `service` at `level`."""
    events = []
    for line in service.log().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("level") == level:
            events.append(str(entry.get("event")))
    return events


async def scalar(runtime: Runtime, statement: Any) -> int:
    async with runtime.uow.reader() as uow:
        return int(await uow.session.scalar(statement) or 0)


async def effects(runtime: Runtime, burst: Burst) -> dict[str, int]:
    """What the consumers made of the burst, counted in the database."""
    created_ids = list(burst.created)
    async with runtime.uow.reader() as uow:
        reminder_tasks = list(
            await uow.session.scalars(
                select(Reminder.task_id).where(Reminder.task_id.in_(created_ids), Reminder.state == "fired")
            )
        )
        per_task = Counter(
            await uow.session.scalars(select(AuditEntry.task_id).where(AuditEntry.event_type == "created"))
        )
        tasks = list(await uow.session.scalars(select(Task.id)))
        series = Counter(
            await uow.session.scalars(select(Task.series_id).where(Task.series_id.in_(burst.completed)))
        )
        notified = Counter(
            await uow.session.scalars(
                select(Notification.task_id).where(Notification.task_id.in_(reminder_tasks))
            )
        )
    return {
        "acknowledged tasks": len(created_ids),
        "acknowledged tasks with one created entry": sum(per_task[t] == 1 for t in created_ids),
        "tasks with one created entry": sum(per_task[t] == 1 for t in tasks),
        "tasks": len(tasks),
        "completions": len(burst.completed),
        "completions with one next occurrence": sum(series[s] == 2 for s in burst.completed),
        "reminders set": sum(kind == "reminder" for kind in burst.created.values()),
        "reminders": len(reminder_tasks),
        "reminders with one notification": sum(notified[t] == 1 for t in reminder_tasks),
        "extra created entries": sum(n - 1 for n in per_task.values() if n > 1),
    }


async def consumed_everything(runtime: Runtime) -> bool:
    """Every outbox row sent, every reminder fired, and each consumer's inbox holds every event it acts on."""
    unsent = await scalar(runtime, select(func.count()).where(OutboxRow.sent_at.is_(None)))
    pending = await scalar(runtime, select(func.count()).where(Reminder.state == "pending"))
    task_events = await scalar(runtime, select(func.count()).where(OutboxRow.topic == TASK_EVENTS))
    completed = await scalar(
        runtime,
        select(func.count()).where(
            OutboxRow.topic == TASK_EVENTS, OutboxRow.payload.like("%task.completed%")
        ),
    )
    reminders = await scalar(runtime, select(func.count()).where(OutboxRow.topic == REMINDERS))
    inbox = {
        consumer: await scalar(runtime, select(func.count()).where(InboxRow.consumer == consumer))
        for consumer in CONSUMERS
    }
    LAST_PROGRESS.update(
        dead_letters=await scalar(runtime, select(func.count()).select_from(DeadLetter)),
        unsent=unsent,
        pending=pending,
        task_events=task_events,
        completed=completed,
        reminders=reminders,
        **inbox,
    )
    return (
        unsent == 0
        and pending == 0
        and inbox["audit"] >= task_events
        and inbox["recurring"] >= completed
        and inbox["notifications"] >= reminders
    )


def all_whole(found: dict[str, int]) -> bool:
    return (
        found["acknowledged tasks with one created entry"] == found["acknowledged tasks"]
        and found["tasks with one created entry"] == found["tasks"]
        and found["completions with one next occurrence"] == found["completions"]
        and found["reminders with one notification"] == found["reminders"]
    )


async def _outage_reported(services: Services, bootstrap: str) -> dict[str, Any]:
    """Wait until relay and consumers answer 503 naming the broker and the api 200 saying it still takes
    writes; returns every service's /readyz."""
    seen: dict[str, Any] = {}

    async def reported() -> bool:
        for service in services.all:
            seen[service.service] = await readyz(service)
        api_code, api_body = seen["api"]
        return all(
            seen[name][0] == 503 and f"Kafka at {bootstrap}" in seen[name][1].get("message", "")
            for name in services.others
        ) and (api_code == 200 and "writes are accepted" in api_body.get("message", ""))

    await eventually(reported, timeout_s=30, what="relay and consumers to report the broker in /readyz")
    return seen


async def _setup(tmp_path: Path, pg_url: str, broker: KafkaBroker) -> tuple[Runtime, Services]:
    settings = kafka_settings(tmp_path, pg_url, broker)
    env = child_env(settings, TASKSTREAM_LOG_FORMAT="json", TASKSTREAM_LOG_LEVEL="INFO")
    services = Services(tmp_path, env)
    # The test reads the database through a runtime of its own that runs no service.
    runtime = Runtime(settings, services=(), bus=MemoryBus())
    return runtime, services


@bounded(240)
async def test_broker_killed_during_a_burst_then_restarted_on_its_log_loses_and_doubles_nothing(
    tmp_path: Path, pg_url: str, broker: KafkaBroker
) -> None:
    started = time.monotonic()
    runtime, services = await _setup(tmp_path, pg_url, broker)
    try:
        await services.start()
        async with httpx.AsyncClient(base_url=services.api.url, timeout=30, limits=CLIENT_LIMITS) as client:
            users = [await sign_up(client, f"user{n}@example.com") for n in range(USERS)]
            burst = Burst(client, users)
            first = asyncio.create_task(burst.run(0, BEFORE))
            await eventually(
                lambda: _at_least(burst, BEFORE // 2), timeout_s=60, what="half the burst before the kill"
            )
            broker.kill()
            killed_at = time.monotonic()
            during = asyncio.create_task(burst.run(BEFORE, DURING))
            seen = await _outage_reported(services, broker.bootstrap)
            unsent_during = await metric(services.others["relay"], "taskstream_outbox_unsent_rows")
            await asyncio.gather(first, during)
            acknowledged_while_down = len(burst.created)
            await asyncio.to_thread(broker.start)  # the same log, the same port
            restarted_at = time.monotonic()
            await burst.run(BEFORE + DURING, AFTER)
        try:
            await eventually(
                lambda: consumed_everything(runtime),
                timeout_s=120,
                what=lambda: (
                    f"every event consumed; counted {LAST_PROGRESS}; audit logged "
                    f"{Counter(log_events(services.others['audit'], 'warning'))} (warnings), "
                    f"{Counter(log_events(services.others['audit'], 'error'))} (errors)"
                ),
            )
        except pytest.fail.Exception:
            print(await _where_audit_lost(runtime, broker))
            raise
        settled_s = time.monotonic() - restarted_at
        found = await effects(runtime, burst)
        relay_errors = log_events(services.others["relay"], "error")
        print(
            f"\n[kafka SIGKILL] requests {dict(burst.statuses)}; down {restarted_at - killed_at:.1f}s; "
            f"{acknowledged_while_down} tasks acknowledged by then; /readyz while down: "
            f"{ {name: code for name, (code, _) in seen.items()} }; relay said "
            f"{seen['relay'][1].get('message')!r}; api said {seen['api'][1].get('message')!r}; "
            f"outbox unsent (relay /metrics) {unsent_during:.0f}; after restart: {found}; "
            f"relay errors {Counter(relay_errors)}; settled {settled_s:.1f}s after the restart; "
            f"took {time.monotonic() - started:.1f}s"
        )
        assert set(burst.statuses) <= {200, 201}, burst.statuses
        assert seen["api"][0] == 200 and "writes are accepted" in seen["api"][1]["message"]
        assert "outbox" in seen["relay"][1]
        assert unsent_during > 0
        assert (
            "kafka broker unreachable; consumption paused, publishing fails until it answers" in relay_errors
        )
        for name in CONSUMERS:
            assert "kafka broker unreachable; consumption paused, publishing fails until it answers" in (
                log_events(services.others[name], "error")
            ), name
        assert all_whole(found), found
        assert found["extra created entries"] == 0
    finally:
        services.stop()
        await runtime.stop()


@bounded(300)
async def test_broker_wiped_during_a_burst_reports_the_loss_and_outbox_replay_restores_every_effect(
    tmp_path: Path, pg_url: str, broker: KafkaBroker
) -> None:
    started = time.monotonic()
    runtime, services = await _setup(tmp_path, pg_url, broker)
    since = datetime.now(UTC) - timedelta(seconds=1)
    audit = services.others["audit"]
    try:
        await services.start()
        async with httpx.AsyncClient(base_url=services.api.url, timeout=30, limits=CLIENT_LIMITS) as client:
            users = [await sign_up(client, f"user{n}@example.com") for n in range(USERS)]
            burst = Burst(client, users)
            # audit stops reading (SIGSTOP) so that the broker holds events only it had not consumed yet.
            assert audit.process is not None
            audit.process.send_signal(signal.SIGSTOP)
            await burst.run(0, BEFORE)
            await eventually(
                lambda: _all_sent(runtime), timeout_s=60, what="the relay to hand every event to the broker"
            )
            old_cluster = broker.cluster_id()
            broker.kill()
            broker.wipe()
            await asyncio.to_thread(broker.start)  # same port, empty log, a new cluster id
            audit.process.send_signal(signal.SIGCONT)
            await burst.run(BEFORE, AFTER)

        async def loss_reported() -> bool:
            ready = await readyz(services.others["relay"])
            changes = await metric(services.others["relay"], "taskstream_kafka_cluster_changes_total")
            return changes >= 1 and "changed from" in str(ready[1].get("bus", {}).get("warnings"))

        await eventually(loss_reported, timeout_s=60, what="the relay to report the new cluster")
        await eventually(
            lambda: _all_sent(runtime), timeout_s=60, what="the relay to publish to the new cluster"
        )
        await eventually(
            lambda: _consumers_caught_up(services),
            timeout_s=90,
            what="consumers to catch up on the new cluster",
        )
        before_replay = await effects(runtime, burst)
        errors = {s.service: Counter(log_events(s, "error")) for s in services.all}
        replay = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "taskstream", "outbox", "replay", "--since", since.isoformat()],
            env=services.api.env,
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
            check=False,
        )
        assert replay.returncode == 0, replay.stdout + replay.stderr
        await eventually(
            lambda: consumed_everything(runtime),
            timeout_s=120,
            what=lambda: f"every event consumed; counted {LAST_PROGRESS}",
        )
        after_replay = await effects(runtime, burst)
        print(
            f"\n[kafka wiped] cluster {old_cluster} -> {broker.cluster_id()}; before replay {before_replay}; "
            f"errors logged: {errors}; replay said {replay.stdout.strip()!r}; after replay: {after_replay}; "
            f"took {time.monotonic() - started:.1f}s"
        )
        assert broker.cluster_id() != old_cluster
        lost = (
            before_replay["acknowledged tasks"] - before_replay["acknowledged tasks with one created entry"]
        )
        assert lost > 0  # the events only the old cluster held never reached audit ...
        assert "kafka cluster changed: the broker's log was wiped or replaced" in errors["relay"]
        assert (
            "kafka cluster changed: the broker's log was wiped or replaced" in errors["audit"]
        )  # ... said so
        assert all_whole(after_replay), after_replay
        assert after_replay["extra created entries"] == 0
    finally:
        if audit.process is not None and audit.process.poll() is None:
            audit.process.send_signal(signal.SIGCONT)
        services.stop()
        await runtime.stop()


async def _at_least(burst: Burst, count: int) -> bool:
    return len(burst.created) >= count


async def _all_sent(runtime: Runtime) -> bool:
    return await scalar(runtime, select(func.count()).where(OutboxRow.sent_at.is_(None))) == 0


async def _consumers_caught_up(services: Services) -> bool:
    """Every consumer is ready on the new cluster and its lag (from /metrics) is zero."""
    for name in CONSUMERS:
        code, _ = await readyz(services.others[name])
        if code != 200 or await metric(services.others[name], "taskstream_consumer_lag_messages") != 0:
            return False
    return True


@bounded(120)
async def test_a_consumer_stops_on_sigterm_within_the_drain_time_while_the_broker_hangs(
    tmp_path: Path, pg_url: str, broker: KafkaBroker
) -> None:
    settings = kafka_settings(tmp_path, pg_url, broker)
    runtime = Runtime(settings, services=(), bus=MemoryBus())
    await migrate(runtime.engine)  # audit waits for the api or relay to migrate; here the test does
    env = child_env(
        settings, TASKSTREAM_DRAIN_TIMEOUT_S="5", TASKSTREAM_LOG_LEVEL="INFO", TASKSTREAM_LOG_FORMAT="json"
    )
    audit = ServiceProcess("audit", env, tmp_path / "audit.log")
    try:
        audit.start()
        await eventually(lambda: _ready(audit, 200), timeout_s=60, what="audit to be ready")
        broker.pause()  # SIGSTOP: connections stay open, nothing answers
        await eventually(lambda: _ready(audit, 503), timeout_s=30, what="audit to report the hung broker")
        assert audit.process is not None
        asked = time.monotonic()
        audit.process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(audit.process.wait, 30)
        took = time.monotonic() - asked
        print(f"\n[SIGTERM, broker hung] audit exited with {code} after {took:.1f}s (drain 5 s, clients 3 s)")
        assert code in (0, -signal.SIGTERM)  # uvicorn shuts down, then lets the signal end the process
        assert "services stopped" in log_events(audit, "info")  # the runtime's own shutdown ran to its end
        assert took < 5 + 3 + 2  # the drain time, the clients' close, and the process's own start-up margin
    finally:
        broker.resume()
        audit.stop()
        await runtime.stop()


async def _ready(service: ServiceProcess, status: int) -> bool:
    return (await readyz(service))[0] == status


async def _where_audit_lost(runtime: Runtime, broker: KafkaBroker) -> str:
    """For a failed run: each task event without an audit inbox row, with where it sits on the broker (or that
    it is not there: lost before the consumer), and the audit group's committed offsets."""
    async with runtime.uow.reader() as uow:
        rows = (
            await uow.session.execute(
                select(OutboxRow.event_id, OutboxRow.sent_at).where(OutboxRow.topic == TASK_EVENTS)
            )
        ).all()
        seen = set(await uow.session.scalars(select(InboxRow.event_id).where(InboxRow.consumer == "audit")))
    missing = {row.event_id: row.sent_at for row in rows if row.event_id not in seen}
    reader = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest")
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await reader.start()
    await admin.start()
    try:
        partitions = [TopicPartition(TASK_EVENTS, p) for p in range(runtime.settings.kafka_partitions)]
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)
        ends = await reader.end_offsets(partitions)
        located: dict[str, list[tuple[int, int]]] = {}
        async with asyncio.timeout(30):
            while [tp for tp in partitions if await reader.position(tp) < ends[tp]]:
                for tp, records in (await reader.getmany(timeout_ms=500)).items():
                    for record in records:
                        event_id = json.loads(record.value)["id"]
                        if event_id in missing:
                            located.setdefault(event_id, []).append((tp.partition, record.offset))
        committed = await admin.list_consumer_group_offsets("audit")
    finally:
        await reader.stop()
        await admin.close()
    lines = [
        f"audit committed { ({tp.partition: o.offset for tp, o in committed.items()}) }; "
        f"ends { ({tp.partition: end for tp, end in ends.items()}) }"
    ]
    lines += [
        f"missing {event_id} sent {sent} at {located.get(event_id, 'nowhere')}"
        for event_id, sent in missing.items()
    ]
    return "\n".join(lines)

"""taskstream on real Dapr: `up --bus dapr` runs every service beside its own daprd, over Apache Kafka, with
the Dapr scheduler behind the Jobs API. The scenario a user walks, then the faults a sidecar can have."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from taskstream.devkafka import KafkaBroker
from taskstream.domain.errors import DependencyUnavailable
from taskstream.messaging.bus import Message
from tests.conftest import start_kafka
from tests.dapr.cluster import APP_TOKEN, DaprCluster, require_daprd
from tests.dapr.harness import SidecarBus
from tests.e2e.test_scenario import Window
from tests.e2e.test_tracing import ancestors, causal_chain, complete_a_recurring_task, reminder_chain
from tests.otlp import OtlpReceiver, Span

pytestmark = [pytest.mark.kafka]
SERVICES = ("api", "relay", "recurring", "notifications", "audit", "realtime")


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    require_daprd()
    made = start_kafka(tmp_path_factory.mktemp("kafka"))
    yield made
    made.stop()


async def running(tmp_path: Path, broker: KafkaBroker, **env: str) -> DaprCluster:
    """A started cluster whose broadcast consumers have joined (see `warmed_up`)."""
    cluster = DaprCluster(tmp_path, broker.bootstrap, **env).start()
    try:
        await cluster.wait_ready()
        await warmed_up(cluster)
    except BaseException:
        cluster.stop()  # a cluster that never became ready leaves no process behind
        raise
    return cluster


async def warmed_up(cluster: DaprCluster, within: float = 90.0) -> None:
    """Until a change reaches a window on the api and one on realtime.

    Their sidecars' consumer groups are new at every start and begin at the newest offset (old updates are
    of no use to a live socket), so updates published before a group has joined are not theirs to see.
    """
    async with httpx.AsyncClient(base_url=cluster.base, timeout=10) as http:
        token, headers = await account(http, "warm-up@example.com")
        windows = [await window(cluster.base, token), await window(cluster.url("realtime"), token)]
        readers = [asyncio.create_task(w.collect()) for w in windows]
        try:
            async with asyncio.timeout(within):
                while not all(w.events for w in windows):
                    await http.post("/api/v1/tasks", json={"title": "warm-up"}, headers=headers)
                    await asyncio.sleep(1.0)
        finally:
            for each in windows:
                await each.ws.close()
            for reader in readers:
                reader.cancel()


async def account(http: httpx.AsyncClient, email: str) -> tuple[str, dict[str, str]]:
    """Register and sign in: (access token, Authorization header)."""
    body = {"email": email, "password": "correct horse battery", "timezone": "UTC"}
    assert (await http.post("/api/v1/auth/register", json=body)).status_code == 201
    form = {"username": email, "password": "correct horse battery"}
    token = str((await http.post("/api/v1/auth/token", data=form)).json()["access_token"])
    return token, {"Authorization": f"Bearer {token}"}


async def window(url: str, token: str) -> Window:
    socket = await websockets.connect(f"{url.replace('http', 'ws', 1)}/api/v1/ws?token={token}")
    assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "ready"
    return Window(socket)


def of_type(kind: str, **data: Any) -> Any:
    def matches(event: dict[str, Any]) -> bool:
        body = event.get("data") or {}
        return event.get("type") == kind and all(body.get(k) == v for k, v in data.items())

    return matches


async def eventually(check: Any, what: str, within: float = 30.0) -> Any:
    """Poll an async `check` until it returns something truthy (other processes' work: no event here)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: not within {within} s (last: {result!r})")
        await asyncio.sleep(0.2)


@pytest.fixture
async def scenario_cluster(tmp_path: Path, broker: KafkaBroker) -> AsyncIterator[DaprCluster]:
    # The database poll sleeps for an hour: a reminder fires only when its Dapr job calls the app back.
    cluster = await running(tmp_path, broker, TASKSTREAM_SCHEDULER_POLL_S="3600")
    try:
        yield cluster
    finally:
        code = cluster.stop()
    log = cluster.log()
    for name in (*SERVICES, *(f"{s}-dapr" for s in SERVICES), "dapr-scheduler"):
        assert f"{name:<18} | " in log, f"no output from {name}"
    assert "all services stopped" in log
    assert code == 0


async def test_the_water_plants_journey_on_real_sidecars(scenario_cluster: DaprCluster) -> None:
    cluster = scenario_cluster
    async with httpx.AsyncClient(base_url=cluster.base, timeout=10) as http:
        token, ada = await account(http, "ada@example.com")
        other, bob = await account(http, "bob@example.com")
        # Two windows of Ada: one on the api's socket, one on the realtime service's (both fed by daprd).
        windows = [await window(cluster.base, token), await window(cluster.url("realtime"), token)]
        stranger = await window(cluster.base, other)
        readers = [asyncio.create_task(w.collect()) for w in (*windows, stranger)]
        try:
            plants = {"title": "Water plants", "due_date": "2030-01-01", "recurrence": "FREQ=DAILY"}
            task = (await http.post("/api/v1/tasks", json=plants, headers=ada)).json()
            for each in windows:
                await each.wait_for(of_type("com.taskstream.task.created.v1", task_id=task["id"]), 20)

            done = await http.post(f"/api/v1/tasks/{task['id']}/complete", headers=ada)
            assert done.status_code == 200, done.text
            for each in windows:
                event = await each.wait_for(
                    lambda e: (
                        e.get("type") == "com.taskstream.task.created.v1"
                        and e["data"]["task_id"] != task["id"]
                    ),
                    20,
                )
                assert event["data"]["task_data"]["due_date"] == "2030-01-02"  # type: ignore[index]

            async def history() -> list[str]:
                entries = (await http.get(f"/api/v1/tasks/{task['id']}/history", headers=ada)).json()
                return [e["event_type"] for e in entries] if len(entries) == 2 else []

            assert await eventually(history, "the audit history") == ["completed", "created"]
            await asyncio.sleep(1.0)  # a second next occurrence would have arrived by now
            open_tasks = (await http.get("/api/v1/tasks", params={"completed": "false"}, headers=ada)).json()
            assert [(t["title"], t["due_date"]) for t in open_tasks["items"]] == [
                ("Water plants", "2030-01-02")
            ]

            await reminders_go_through_the_jobs_api(cluster, http, ada, windows)

            # Bob saw nothing of Ada's and cannot reach her tasks.
            assert stranger.events == []
            assert (await http.get("/api/v1/tasks", headers=bob)).json()["items"] == []
            assert (await http.get(f"/api/v1/tasks/{task['id']}", headers=bob)).status_code == 404
            assert (await http.get("/api/v1/notifications", headers=bob)).json() == []
        finally:
            for each in (*windows, stranger):
                await each.ws.close()
            for reader in readers:
                reader.cancel()
    await forged_events_are_refused_everywhere(cluster)


async def reminders_go_through_the_jobs_api(
    cluster: DaprCluster, http: httpx.AsyncClient, ada: dict[str, str], windows: list[Window]
) -> None:
    """Scheduled on create, replaced when the time moves, deleted on completion, and fired once on time."""
    sidecar = cluster.sidecar("notifications")

    async def job(reminder_id: str) -> dict[str, Any] | None:
        response = await sidecar.get(f"/v1.0/jobs/reminder-{reminder_id}")
        return response.json() if response.status_code == 200 else None

    try:
        now = datetime.now(UTC)
        dropped: dict[str, Any] = {
            "title": "Call the plumber",
            "due_at": (now + timedelta(hours=1)).isoformat(),
        }
        dropped["reminders"] = [{"at": (now + timedelta(minutes=5)).isoformat()}]
        plumber = (await http.post("/api/v1/tasks", json=dropped, headers=ada)).json()
        [plumber_reminder] = plumber["reminders"]
        assert await eventually(lambda: job(plumber_reminder["id"]), "the plumber's job")
        assert (await http.post(f"/api/v1/tasks/{plumber['id']}/complete", headers=ada)).status_code == 200

        async def gone() -> bool:
            return await job(plumber_reminder["id"]) is None

        assert await eventually(gone, "the completed task's job deleted")

        fire_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=12)
        body: dict[str, Any] = {"title": "Feed the cat", "due_at": (fire_at + timedelta(hours=1)).isoformat()}
        body["reminders"] = [{"at": (fire_at + timedelta(minutes=5)).isoformat()}]
        cat = (await http.post("/api/v1/tasks", json=body, headers=ada)).json()
        [first] = cat["reminders"]
        scheduled = await eventually(lambda: job(first["id"]), "the cat's job")
        assert scheduled["dueTime"].startswith(f"{fire_at + timedelta(minutes=5):%Y-%m-%dT%H:%M:%S}")

        moved = {"reminders": [{"at": fire_at.isoformat()}]}
        patched = (await http.patch(f"/api/v1/tasks/{cat['id']}", json=moved, headers=ada)).json()
        [second] = patched["reminders"]

        async def replaced() -> dict[str, Any] | None:
            found = await job(second["id"])
            if second["id"] != first["id"] and await job(first["id"]) is not None:
                return None
            if found and found["dueTime"].startswith(f"{fire_at:%Y-%m-%dT%H:%M:%S}"):
                return found
            return None

        assert await eventually(replaced, "the cat's job moved to the new time")
        for each in windows:
            note = await each.wait_for(of_type("com.taskstream.notification.created.v1"), 40)
            assert note["data"]["title"] == "Feed the cat"  # type: ignore[index]
        late = datetime.now(UTC) - fire_at
        assert timedelta(0) <= late < timedelta(seconds=10), late  # on time, give or take the push
        notes = (await http.get("/api/v1/notifications", headers=ada)).json()
        assert [n["title"] for n in notes] == ["Feed the cat"]
        triggered = [line for line in cluster.log().splitlines() if '"job triggered"' in line]
        assert any('"fired": 1' in line for line in triggered), triggered
    finally:
        await sidecar.aclose()


async def forged_events_are_refused_everywhere(cluster: DaprCluster) -> None:
    """Without daprd's app token no service takes an event or a job trigger (every service, every route)."""
    forged = {"specversion": "1.0", "id": "forged", "source": "/x", "type": "com.taskstream.task.created.v1"}
    async with httpx.AsyncClient(timeout=5) as client:
        for service in SERVICES:
            base = cluster.url(service)
            for headers in ({}, {"dapr-api-token": "guess"}):
                routes = ["/dapr/events/task-events", "/dapr/events/task-updates", "/dapr/events/reminders"]
                routes += ["/job/reminder-x"] if service == "notifications" else []  # the only job route
                for route in routes:
                    answer = await client.post(base + route, json=forged, headers=headers)
                    assert answer.status_code == 401, (service, route, answer.status_code)
        ok = await client.post(
            cluster.url("audit") + "/dapr/events/nothing", json=forged, headers={"dapr-api-token": APP_TOKEN}
        )
        assert ok.status_code == 404  # with the token: through to the route, which has no such topic


# ---------------------------------------------------------------- one trace through the sidecars


async def test_one_trace_per_action_through_the_sidecars(tmp_path: Path, broker: KafkaBroker) -> None:
    """Services and sidecars export to one OTLP/HTTP receiver: completing a recurring task is one trace from
    the request to the push, the sidecars' own spans inside it; a reminder fired by its Dapr job starts a
    trace linked to the request that scheduled it."""
    with OtlpReceiver() as otlp:
        traced = {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "TASKSTREAM_SCHEDULER_POLL_S": "3600",  # the reminder fires when its Dapr job calls back
        }
        cluster = await running(tmp_path, broker, **traced)
        try:
            await complete_a_recurring_task(cluster.base, cluster.port)

            async def both_traces() -> list[Span] | None:
                got = otlp.snapshot()
                chain = causal_chain(got)
                whole = chain is not None and reminder_chain(got) is not None and sidecars_in(got, chain)
                return got if whole else None

            spans = await eventually(both_traces, "the completion's and the reminder's whole traces")
        finally:
            assert cluster.stop() == 0
    chain, reminder = causal_chain(spans), reminder_chain(spans)
    assert chain is not None and reminder is not None
    assert [chain[r].service for r in ("http", "send", "recurring", "next send")] == [
        "taskstream-api",
        "taskstream-relay",
        "taskstream-recurring",
        "taskstream-relay",
    ]
    assert chain["send"].attributes["messaging.system"] == "dapr"
    assert sidecars_in(spans, chain)
    assert reminder["fire"].service == "taskstream-notifications" and reminder["fire"].parent_id == ""


def sidecars_in(spans: list[Span], chain: dict[str, Span]) -> bool:
    """daprd's spans are in the completion's trace: its publish span below the relay's PRODUCER span, and its
    delivery spans to the recurring and audit apps, which continue the event's traceparent as our consumers
    do. (daprd names itself by its app id, taskstream-relay beside the relay, and exports every few
    seconds.)"""
    trace = {s.span_id: s for s in spans if s.trace_id == chain["http"].trace_id}
    publish = "/v1.0/publish/pubsub/task-events"
    published = any(s.name == publish and chain["send"] in ancestors(s, trace) for s in trace.values())
    delivered = {s.service for s in trace.values() if s.name == "pubsub/task-events"}
    return published and delivered >= {"taskstream-recurring", "taskstream-audit"}


# ---------------------------------------------------------------- faults on real sidecars


@pytest.fixture
async def fault_cluster(tmp_path: Path, broker: KafkaBroker) -> AsyncIterator[DaprCluster]:
    cluster = await running(tmp_path, broker, TASKSTREAM_CONSUMER_BACKOFF_S="0.1")
    try:
        yield cluster
    finally:
        assert cluster.stop() == 0


def rows(cluster: DaprCluster, query: str, *args: object) -> list[tuple[Any, ...]]:
    """Read the cluster's SQLite database directly (a second reader beside the services; WAL allows it)."""
    with sqlite3.connect(cluster.data_dir / "taskstream.db", timeout=10) as connection:
        return list(connection.execute(query, args))


async def test_faults_on_real_sidecars(fault_cluster: DaprCluster, broker: KafkaBroker) -> None:
    cluster = fault_cluster
    async with httpx.AsyncClient(base_url=cluster.base, timeout=20) as http:
        _, headers = await account(http, "faults@example.com")
        [user_id] = rows(cluster, "SELECT id FROM users WHERE email = ?", "faults@example.com")[0]
        await recurring_sidecar_killed_during_a_burst(cluster, http, headers)
        await a_poison_event_goes_to_its_dead_letter_topic(cluster, http, headers, broker, user_id)
        await a_retried_delivery_is_redelivered_with_backoff(cluster, http, headers, broker)
        await reminders_fire_from_the_database_while_the_scheduler_is_down(cluster, http, headers)


async def recurring_sidecar_killed_during_a_burst(
    cluster: DaprCluster, http: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """kill -9 of recurring's daprd mid-burst: after its restart every completion has one next occurrence."""
    count = 30
    tasks = []
    for n in range(count):
        body = {"title": f"burst {n:02d}", "due_date": "2031-03-01", "recurrence": "FREQ=WEEKLY"}
        tasks.append((await http.post("/api/v1/tasks", json=body, headers=headers)).json())
    killed = cluster.pid("recurring-dapr")
    for n, task in enumerate(tasks):
        if n == count // 3:
            os.kill(killed, signal.SIGKILL)
        assert (await http.post(f"/api/v1/tasks/{task['id']}/complete", headers=headers)).status_code == 200

    async def all_next() -> list[tuple[str, str]] | None:
        listed = await http.get("/api/v1/tasks", params={"completed": "false", "limit": 200}, headers=headers)
        found = [
            (t["title"], t["due_date"]) for t in listed.json()["items"] if t["title"].startswith("burst")
        ]
        return found if len(found) >= count else None

    try:
        await eventually(all_next, "a next occurrence of every completed task", within=120)
    except AssertionError as error:  # say how far it got, and what the recurring pair logged
        listed = await http.get("/api/v1/tasks", params={"completed": "false", "limit": 200}, headers=headers)
        made = sum(t["title"].startswith("burst") for t in listed.json()["items"])
        recurring = [line for line in cluster.log().splitlines() if line.startswith("recurring")]
        tail = "\n".join(recurring[-40:])
        raise AssertionError(f"{error}: {made} of {count} made; recurring's log:\n{tail}") from None
    assert cluster.pid("recurring-dapr") != killed, "the supervisor restarted the sidecar"
    await asyncio.sleep(2.0)  # redeliveries after the restart would land by now
    found = await all_next()
    assert found is not None
    assert sorted(found) == [(f"burst {n:02d}", "2031-03-08") for n in range(count)]  # once each
    print(f"kill -9 recurring-dapr: {count} completions, {len(found)} next occurrences")


async def produce(broker: KafkaBroker, topic: str, key: str, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key.encode())
    finally:
        await producer.stop()


async def dead_letters_of(broker: KafkaBroker, event_id: str) -> list[tuple[dict[str, bytes], Any]]:
    """The records of task-events.dlq that carry `event_id`: (headers, parsed value)."""
    consumer = AIOKafkaConsumer(
        "task-events.dlq", bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    found = []
    try:
        batches = await consumer.getmany(timeout_ms=3000)
        for records in batches.values():
            for record in records:
                value = json.loads(record.value)
                if event_id in (value.get("id"), (value.get("data") or {}).get("id")):
                    found.append(({k: v for k, v in record.headers}, value))
    finally:
        await consumer.stop()
    return found


async def a_poison_event_goes_to_its_dead_letter_topic(
    cluster: DaprCluster, http: httpx.AsyncClient, headers: dict[str, str], broker: KafkaBroker, user_id: str
) -> None:
    """An event recurring's handler cannot take: recorded, dead-lettered by daprd too, later ones flow."""
    poison = {
        "specversion": "1.0",
        "id": "poison-1",
        "source": "/taskstream/api",
        "type": "com.taskstream.task.completed.v1",
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "partitionkey": user_id,
        "data": {"event_type": "completed"},  # no task: the handler fails every attempt
    }
    await produce(broker, "task-events", user_id, json.dumps(poison).encode())

    async def recorded() -> list[tuple[Any, ...]]:
        return rows(cluster, "SELECT consumer, attempts FROM dead_letters WHERE payload LIKE '%poison-1%'")

    letters = await eventually(recorded, "the poison event recorded as a dead letter", within=60)
    assert ("recurring", 5) in letters

    async def both_copies() -> list[tuple[dict[str, bytes], Any]] | None:
        found = await dead_letters_of(broker, "poison-1")
        ours = [h for h, _ in found if h.get("consumer") == b"recurring"]
        daprs = [v for _, v in found if "pubsubname" in v]  # the envelope daprd delivered, as it routed it
        return found if ours and daprs else None

    copies = await eventually(both_copies, "our copy and daprd's in task-events.dlq", within=60)
    print(f"poison event: dead_letters rows {letters}, task-events.dlq records {len(copies)}")
    after = {"title": "after the poison", "due_date": "2031-04-01", "recurrence": "FREQ=DAILY"}
    task = (await http.post("/api/v1/tasks", json=after, headers=headers)).json()
    await http.post(f"/api/v1/tasks/{task['id']}/complete", headers=headers)

    async def next_one() -> bool:
        listed = await http.get(
            "/api/v1/tasks", params={"q": "poison", "completed": "false"}, headers=headers
        )
        return [t["due_date"] for t in listed.json()["items"]] == ["2031-04-02"]

    await eventually(next_one, "the event after the poison processed")


async def a_retried_delivery_is_redelivered_with_backoff(
    cluster: DaprCluster, http: httpx.AsyncClient, headers: dict[str, str], broker: KafkaBroker
) -> None:
    """The database locked: audit answers RETRY, daprd redelivers by its resiliency policy; one entry."""
    task = (await http.post("/api/v1/tasks", json={"title": "while locked"}, headers=headers)).json()

    async def audited() -> list[tuple[Any, ...]]:
        return rows(cluster, "SELECT event_id FROM audit_log WHERE task_id = ?", task["id"])

    [[created_id]] = await eventually(audited, "the created entry")
    [[value]] = rows(
        cluster, "SELECT payload FROM outbox WHERE event_id = ? AND topic = 'task-events'", created_id
    )
    replay = json.loads(value) | {"id": "replayed-while-locked"}
    before = cluster.log().count("delivery postponed: dependency down")
    with sqlite3.connect(cluster.data_dir / "taskstream.db", isolation_level=None) as lock:
        lock.execute("BEGIN EXCLUSIVE")  # every writer waits out its busy timeout, then fails
        await produce(broker, "task-events", replay["partitionkey"], json.dumps(replay).encode())

        async def retried() -> bool:
            return cluster.log().count("delivery postponed: dependency down") >= before + 3

        await eventually(retried, "audit answering RETRY", within=90)
        lock.execute("ROLLBACK")

    async def entry() -> list[tuple[Any, ...]]:
        return rows(cluster, "SELECT id FROM audit_log WHERE event_id = ?", "replayed-while-locked")

    assert len(await eventually(entry, "the redelivered event audited", within=90)) == 1
    await asyncio.sleep(1.0)
    assert len(await entry()) == 1
    retries = cluster.log().count("delivery postponed: dependency down") - before
    print(f"database locked: {retries} RETRY answers, then one audit entry")


async def reminders_fire_from_the_database_while_the_scheduler_is_down(
    cluster: DaprCluster, http: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """The Dapr scheduler stopped: the database poll fires the reminder; when it is back, nothing twice."""
    scheduler = cluster.pid("dapr-scheduler")
    os.kill(scheduler, signal.SIGSTOP)
    try:
        at = datetime.now(UTC) + timedelta(seconds=3)
        body: dict[str, Any] = {"title": "scheduler down", "due_at": (at + timedelta(hours=1)).isoformat()}
        body["reminders"] = [{"at": at.isoformat()}]
        assert (await http.post("/api/v1/tasks", json=body, headers=headers)).status_code == 201

        async def notified() -> list[str]:
            notes = (await http.get("/api/v1/notifications", headers=headers)).json()
            return [n["title"] for n in notes if n["title"] == "scheduler down"]

        assert await eventually(notified, "the reminder fired from the database", within=30) == [
            "scheduler down"
        ]
    finally:
        os.kill(scheduler, signal.SIGCONT)
    await asyncio.sleep(3.0)  # a job the scheduler still held would fire now
    assert await notified() == ["scheduler down"]


async def test_a_retried_delivery_backs_off_by_the_resiliency_policy(
    broker: KafkaBroker, tmp_path: Path
) -> None:
    """A handler that fails answers RETRY; daprd redelivers after the `delivery` policy's exponential backoff.

    The policy (deploy/k8s/base/dapr/resiliency.yaml) leaves Dapr's exponential defaults: a first interval of
    500 ms, ×1.5 per retry, each randomised by ±50 %. So the k-th wait lies in [0.25, 0.75] s × 1.5^k, plus
    the time a delivery takes; the fourth wait is always longer than the first.
    """
    failures = 4
    calls: list[float] = []
    succeeded = asyncio.Event()

    async def failing_then_ok(message: Message) -> None:
        calls.append(time.monotonic())
        if len(calls) <= failures:
            raise DependencyUnavailable("database down")
        succeeded.set()

    bus = SidecarBus(broker.bootstrap, tmp_path / "sidecar", "backoff")
    topic = f"backoff-{uuid.uuid4().hex[:8]}"
    bus.subscribe(topic, group="taskstream-audit", handler=failing_then_ok)
    await bus.start()
    try:
        await bus.publish([Message(topic, "user-1", b"retried")])
        await asyncio.wait_for(succeeded.wait(), 60)
        await asyncio.sleep(2.0)  # one more redelivery, were there any, would have come by now
    finally:
        await bus.stop()
    waits = [later - earlier for earlier, later in itertools.pairwise(calls)]
    print("waits between deliveries (s): " + ", ".join(f"{w:.2f}" for w in waits))
    assert len(calls) == failures + 1, "redelivered until it succeeded, then not again"
    for k, waited in enumerate(waits):
        nominal = 0.5 * 1.5**k
        assert 0.5 * nominal - 0.05 <= waited <= 1.5 * nominal + 2.0, (k, waits)
    assert waits[-1] > waits[0]

"""Contract tests of the Dapr path.

The real service apps (Runtime with bus="dapr", SQLite, a fixed clock) are called the way daprd calls them;
the publisher and the Jobs client talk to a recording stand-in for the sidecar on a real 127.0.0.1 socket.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from taskstream.devkafka import free_port
from taskstream.domain.clock import FixedClock
from taskstream.features.notifications.dapr_jobs import DaprJobs, JobsUnavailable, ReminderJobs, job_name
from taskstream.messaging.bus import BusUnavailable, Message
from taskstream.runtime import Runtime
from taskstream.settings import Settings
from taskstream.store.tables import AuditEntry, DeadLetter, InboxRow, OutboxRow, Reminder, Task
from taskstream.transports.dapr import DaprBus
from tests.conftest import START, sign_up
from tests.dapr.sidecar import Sidecar, running

ROOT = Path(__file__).resolve().parents[2]
APP_TOKEN = "from-the-sidecar"  # what daprd sends as dapr-api-token (its APP_API_TOKEN)
APP_IDS = {
    "api": "taskstream-api",
    "recurring": "taskstream-recurring",
    "audit": "taskstream-audit",
    "notifications": "taskstream-notifications",
    "realtime": "taskstream-realtime",
}


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def sidecar_server() -> Iterator[Sidecar]:
    with running(Sidecar()) as sidecar:
        yield sidecar


@pytest.fixture
def sidecar(sidecar_server: Sidecar) -> Sidecar:
    sidecar_server.reset()
    return sidecar_server


def dapr_settings(tmp_path: Path, port: int, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'dapr.db'}",
        "jwt_secret": "test-secret-of-at-least-thirty-two-bytes",
        "bus": "dapr",
        "dapr_http_port": port,
        "dapr_app_token": APP_TOKEN,
        "consumer_backoff_s": 0.0,
        "consumer_max_attempts": 3,
    }
    return Settings(**(values | overrides))


class Stack:
    """An api process (which migrates the database) plus service processes as the deployment runs them."""

    def __init__(self, tmp_path: Path, sidecar: Sidecar, clock: FixedClock) -> None:
        self.tmp_path, self.sidecar, self.clock = tmp_path, sidecar, clock
        self.runtimes: list[Runtime] = []
        self.clients: list[httpx.AsyncClient] = []

    async def service(self, *services: str, **overrides: Any) -> tuple[Runtime, httpx.AsyncClient]:
        """A started runtime (background loops off) and a client bound to the app its process serves."""
        settings = dapr_settings(self.tmp_path, overrides.pop("port", self.sidecar.port), **overrides)
        runtime = Runtime(settings, services=services, clock=self.clock)
        await runtime.start(background=False)
        self.runtimes.append(runtime)
        token = settings.dapr_app_token.get_secret_value() if settings.dapr_app_token else ""
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=runtime.build_app()),
            base_url="http://app",
            headers={"dapr-api-token": token},  # as daprd calls the app
        )
        self.clients.append(client)
        return runtime, client

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()
        for runtime in reversed(self.runtimes):
            await runtime.stop()


@pytest.fixture
async def stack(tmp_path: Path, sidecar: Sidecar) -> AsyncIterator[Stack]:
    made = Stack(tmp_path, sidecar, FixedClock(START))
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture
async def api(stack: Stack) -> tuple[Runtime, httpx.AsyncClient]:
    return await stack.service("api")


async def count(runtime: Runtime, table: type, *where: ColumnElement[bool]) -> int:
    async with runtime.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(table).where(*where)) or 0)


async def outbox_events(runtime: Runtime, topic: str) -> list[bytes]:
    """The CloudEvents the api wrote for `topic`, in outbox order (what the relay would publish)."""
    async with runtime.uow() as uow:
        rows = await uow.session.scalars(
            select(OutboxRow).where(OutboxRow.topic == topic).order_by(OutboxRow.id)
        )
        return [row.payload.encode() for row in rows]


def as_daprd_delivers(value: bytes, *, topic: str, pubsub: str = "pubsub") -> bytes:
    """Our structured CloudEvent as daprd posts it: its own trace context and routing attributes added."""
    envelope = json.loads(value)
    envelope |= {
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "traceid": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "tracestate": "",
        "topic": topic,
        "pubsubname": pubsub,
    }
    return json.dumps(envelope).encode()


async def deliver(
    client: httpx.AsyncClient, topic: str, body: bytes, *, headers: dict[str, str] | None = None
) -> str | int:
    """POST one event as daprd does; its Dapr status, or the HTTP status when it is not 200."""
    response = await client.post(
        f"/dapr/events/{topic}",
        content=body,
        headers={"content-type": "application/cloudevents+json"} | (headers or {}),
    )
    if response.status_code != 200:
        return response.status_code
    return str(response.json()["status"])


async def create_task(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> tuple[dict[str, str], dict[str, Any]]:
    headers = await sign_up(client)
    response = await client.post("/api/v1/tasks", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return headers, response.json()


# ---------------------------------------------------------------- subscriptions


def declared(path: str, app_id: str) -> list[tuple[str, str, dict[str, str], str]]:
    """(pubsub, topic, routes, dead-letter topic) of the Subscriptions in `path` scoped to `app_id`."""
    return [
        (d["spec"]["pubsubname"], d["spec"]["topic"], d["spec"]["routes"], d["spec"]["deadLetterTopic"])
        for d in yaml.safe_load_all((ROOT / path).read_text())
        if d and app_id in d.get("scopes", [])
    ]


@pytest.mark.parametrize("service", sorted(APP_IDS))
@pytest.mark.parametrize(
    "path", ["deploy/k8s/base/dapr/subscriptions.yaml", "deploy/dapr/components/subscriptions.yaml"]
)
async def test_the_declared_subscriptions_are_exactly_what_each_service_handles(
    stack: Stack, api: tuple[Runtime, httpx.AsyncClient], service: str, path: str
) -> None:
    overrides = {"dapr_pubsub": "pubsub-broadcast"} if service == "realtime" else {}
    runtime, client = await stack.service(service, **overrides)
    assert isinstance(runtime.bus, DaprBus)
    handled = sorted({(s.pubsub, s.topic) for s in runtime.bus.subscriptions})
    assert sorted(declared(path, APP_IDS[service])) == [
        (pubsub, topic, {"default": f"/dapr/events/{topic}"}, f"{topic}.dlq") for pubsub, topic in handled
    ]
    assert (await client.get("/dapr/subscribe")).status_code == 404  # no second, programmatic list


# ---------------------------------------------------------------- deliveries


async def test_a_redelivered_event_has_one_audit_entry(
    stack: Stack, api: tuple[Runtime, httpx.AsyncClient]
) -> None:
    api_rt, api_client = api
    await create_task(api_client, {"title": "draft"})
    [created] = await outbox_events(api_rt, "task-events")
    audit, client = await stack.service("audit")
    body = as_daprd_delivers(created, topic="task-events")
    assert [await deliver(client, "task-events", body) for _ in range(2)] == ["SUCCESS", "SUCCESS"]
    event_id = json.loads(created)["id"]
    assert await count(audit, AuditEntry) == 1
    assert await count(audit, AuditEntry, AuditEntry.event_id == event_id) == 1


async def test_a_redelivered_completion_creates_one_next_occurrence(
    stack: Stack, api: tuple[Runtime, httpx.AsyncClient]
) -> None:
    api_rt, api_client = api
    headers, task = await create_task(
        api_client, {"title": "Water plants", "due_at": "2026-03-03T09:00:00Z", "recurrence": "FREQ=DAILY"}
    )
    done = await api_client.post(f"/api/v1/tasks/{task['id']}/complete", headers=headers)
    assert done.status_code == 200, done.text
    events = await outbox_events(api_rt, "task-events")
    recurring, client = await stack.service("recurring")
    for _ in range(2):
        for value in events:
            assert (
                await deliver(client, "task-events", as_daprd_delivers(value, topic="task-events"))
                == "SUCCESS"
            )
    assert await count(recurring, Task, Task.series_id == task["id"]) == 2
    nxt = (await api_client.get("/api/v1/tasks", params={"completed": "false"}, headers=headers)).json()[
        "items"
    ]
    assert [(t["title"], t["due_at"]) for t in nxt] == [("Water plants", "2026-03-04T09:00:00Z")]


async def test_an_event_daprd_wrapped_as_plain_json_is_unwrapped(
    stack: Stack, api: tuple[Runtime, httpx.AsyncClient]
) -> None:
    api_rt, api_client = api
    await create_task(api_client, {"title": "draft"})
    [created] = await outbox_events(api_rt, "task-events")
    wrapper = {
        "specversion": "1.0",
        "id": "dapr-generated-id",
        "source": "taskstream-api",
        "type": "com.dapr.event.sent",
        "datacontenttype": "application/json",
        "topic": "task-events",
        "pubsubname": "pubsub",
        "data": json.loads(created),
    }
    audit, client = await stack.service("audit")
    assert await deliver(client, "task-events", json.dumps(wrapper).encode()) == "SUCCESS"
    assert await count(audit, AuditEntry, AuditEntry.event_id == json.loads(created)["id"]) == 1


async def test_database_down_answers_retry_and_writes_nothing(
    stack: Stack, api: tuple[Runtime, httpx.AsyncClient], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api_rt, api_client = api
    await create_task(api_client, {"title": "draft"})
    [created] = await outbox_events(api_rt, "task-events")
    audit, client = await stack.service("audit")
    body = as_daprd_delivers(created, topic="task-events")
    gone = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'gone.db'}")
    with monkeypatch.context() as patch:
        patch.setattr(audit.uow, "sessions", async_sessionmaker(gone, expire_on_commit=False))
        assert await deliver(client, "task-events", body) == "RETRY"
    await gone.dispose()
    assert (await count(audit, AuditEntry), await count(audit, InboxRow), await count(audit, DeadLetter)) == (
        0,
        0,
        0,
    )
    assert stack.sidecar.publishes() == []
    assert (
        await deliver(client, "task-events", body) == "SUCCESS"
    )  # daprd's redelivery, once the database is back
    assert await count(audit, AuditEntry) == 1


@pytest.mark.parametrize("body", [b"{not json", b'{"hello": "world"}'])
async def test_a_malformed_event_is_recorded_then_dropped(
    stack: Stack, api: tuple[Runtime, httpx.AsyncClient], body: bytes
) -> None:
    audit, client = await stack.service("audit")
    assert await deliver(client, "task-events", body) == "DROP"
    async with audit.uow() as uow:
        letters = list(await uow.session.scalars(select(DeadLetter)))
    assert [(d.topic, d.consumer, d.attempts) for d in letters] == [("task-events.dlq", "audit", 0)]
    [published] = stack.sidecar.publishes()
    query = dict(published.query)
    assert (published.path, query["metadata.consumer"], query["metadata.attempts"]) == (
        "/v1.0/publish/pubsub/task-events.dlq",
        "audit",
        "0",
    )
    assert query["metadata.error"].startswith("malformed event")
    assert published.body == body or json.loads(published.body) == json.loads(body)


async def test_a_malformed_event_answers_retry_when_its_dead_letter_cannot_be_published(
    stack: Stack, api: tuple[Runtime, httpx.AsyncClient]
) -> None:
    _, client = await stack.service("audit")
    stack.sidecar.status = 500
    assert await deliver(client, "task-events", b"{not json") == "RETRY"


async def test_a_poison_event_is_dead_lettered_after_the_attempts_then_dropped(
    stack: Stack, api: tuple[Runtime, httpx.AsyncClient]
) -> None:
    api_rt, api_client = api
    await create_task(api_client, {"title": "draft"})
    [created] = await outbox_events(api_rt, "task-events")
    poison = json.loads(created) | {
        "id": "e-poison",
        "type": "com.taskstream.task.completed.v1",
        "data": {"event_type": "completed"},
    }
    recurring, client = await stack.service("recurring")
    assert await deliver(client, "task-events", json.dumps(poison).encode()) == "DROP"
    async with recurring.uow() as uow:
        letters = list(await uow.session.scalars(select(DeadLetter)))
    assert [(d.consumer, d.attempts) for d in letters] == [("recurring", 3)]
    assert [p.path for p in stack.sidecar.publishes()] == ["/v1.0/publish/pubsub/task-events.dlq"]


async def test_realtime_pushes_a_redelivered_update_once(
    stack: Stack, api: tuple[Runtime, httpx.AsyncClient]
) -> None:
    api_rt, api_client = api
    await create_task(api_client, {"title": "draft"})
    [update] = await outbox_events(api_rt, "task-updates")
    realtime, client = await stack.service("realtime", dapr_pubsub="pubsub-broadcast")
    pushed: list[dict[str, Any]] = []

    class Socket:
        async def send_text(self, data: str) -> None:
            pushed.append(json.loads(data))

    assert realtime.hub is not None
    realtime.hub.add(json.loads(update)["partitionkey"], Socket())
    body = as_daprd_delivers(update, topic="task-updates", pubsub="pubsub-broadcast")
    assert [await deliver(client, "task-updates", body) for _ in range(2)] == ["SUCCESS", "SUCCESS"]
    assert [(p["id"], p["type"]) for p in pushed] == [(json.loads(update)["id"], json.loads(update)["type"])]
    assert "topic" not in pushed[0] and "pubsubname" not in pushed[0]


async def test_an_unsubscribed_topic_is_not_found(
    stack: Stack, api: tuple[Runtime, httpx.AsyncClient]
) -> None:
    _, client = await stack.service("audit")
    response = await client.post("/dapr/events/reminders", content=b"{}")
    assert response.status_code == 404


# ---------------------------------------------------------------- publishing


def event(event_id: str, user: str) -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": "/taskstream",
            "type": "com.taskstream.task.created.v1",
            "time": "2026-03-02T08:00:00Z",
            "datacontenttype": "application/json",
            "partitionkey": user,
            "data": {},
        }
    ).encode()


async def test_publish_posts_each_message_in_order_with_its_metadata(sidecar: Sidecar) -> None:
    bus = DaprBus(http_port=sidecar.port, pubsub="pubsub")
    await bus.start()
    messages = [
        Message("task-events", "user-1", event("e-1", "user-1")),
        Message("task-updates", "user-2", event("e-2", "user-2")),
        Message("task-events.dlq", "user-1", b"{not json", {"error": "malformed event", "attempts": "0"}),
    ]
    try:
        await bus.publish(messages)
    finally:
        await bus.stop()
    assert [(r.method, r.path, r.query, r.content_type, r.body) for r in sidecar.requests] == [
        (
            "POST",
            "/v1.0/publish/pubsub/task-events",
            [("metadata.cloudevent.id", "e-1"), ("metadata.partitionKey", "user-1")],
            "application/cloudevents+json",
            event("e-1", "user-1"),
        ),
        (
            "POST",
            "/v1.0/publish/pubsub/task-updates",
            [("metadata.cloudevent.id", "e-2"), ("metadata.partitionKey", "user-2")],
            "application/cloudevents+json",
            event("e-2", "user-2"),
        ),
        (
            "POST",
            "/v1.0/publish/pubsub/task-events.dlq",
            [
                ("metadata.error", "malformed event"),
                ("metadata.attempts", "0"),
                ("metadata.rawPayload", "true"),
                ("metadata.partitionKey", "user-1"),
            ],
            "application/octet-stream",
            b"{not json",
        ),
    ]


async def test_relay_leaves_rows_unsent_while_the_sidecar_fails(
    stack: Stack, api: tuple[Runtime, httpx.AsyncClient]
) -> None:
    api_rt, api_client = api
    headers, task = await create_task(api_client, {"title": "draft"})
    await api_client.post(f"/api/v1/tasks/{task['id']}/complete", headers=headers)
    unsent = OutboxRow.sent_at.is_(None)
    total = await count(api_rt, OutboxRow, unsent)
    assert total == 4  # created and completed, each on task-events and task-updates

    stopped, _ = await stack.service("relay", port=free_port())  # nothing listens there
    with pytest.raises(BusUnavailable):
        await stopped.relay.drain_once()
    relay, _ = await stack.service("relay")
    stack.sidecar.status = 500
    with pytest.raises(BusUnavailable):
        await relay.relay.drain_once()
    assert await count(api_rt, OutboxRow, unsent) == total

    stack.sidecar.reset()
    stack.sidecar.fail_after = 1  # the sidecar takes one message, then fails
    with pytest.raises(BusUnavailable):
        await relay.relay.drain_once()
    assert await count(api_rt, OutboxRow, unsent) == total - 1

    stack.sidecar.reset()
    assert await relay.relay.drain_once() == total - 1
    assert await count(api_rt, OutboxRow, unsent) == 0
    async with api_rt.uow() as uow:
        rows = list(await uow.session.scalars(select(OutboxRow).order_by(OutboxRow.id)))
    # Each body is the outbox row's event with `traceid` (Dapr's older trace attribute) = its traceparent.
    assert [
        (
            p.path,
            dict(p.query)["metadata.cloudevent.id"],
            dict(p.query)["metadata.partitionKey"],
            json.loads(p.body),
        )
        for p in stack.sidecar.publishes()
    ] == [
        (f"/v1.0/publish/pubsub/{r.topic}", r.event_id, r.key, with_traceid(json.loads(r.payload)))
        for r in rows[1:]
    ]


def with_traceid(event: dict[str, Any]) -> dict[str, Any]:
    return event | {"traceid": event["traceparent"]}


# ---------------------------------------------------------------- Jobs API


async def test_jobs_client_schedules_and_deletes_through_the_sidecar(sidecar: Sidecar) -> None:
    bus = DaprBus(http_port=sidecar.port)
    await bus.start()
    jobs = DaprJobs(bus.client)
    try:
        await jobs.schedule(
            "reminder-r1",
            datetime(2026, 3, 2, 9, 1, tzinfo=timezone(timedelta(hours=1))),
            {"reminder_id": "r1"},
        )
        await jobs.delete("reminder-r1")
        sidecar.status = 404
        await jobs.delete("reminder-r1")  # already gone: fine
        sidecar.status = 500
        with pytest.raises(JobsUnavailable):
            await jobs.schedule("reminder-r2", START, {})
    finally:
        await bus.stop()
    first = sidecar.requests[0]
    assert (first.method, first.path, first.content_type) == (
        "POST",
        "/v1.0/jobs/reminder-r1",
        "application/json",
    )
    assert json.loads(first.body) == {
        "dueTime": "2026-03-02T08:01:00Z",
        "data": {"reminder_id": "r1"},
        "overwrite": True,
    }
    assert [(r.method, r.path) for r in sidecar.requests[1:3]] == [("DELETE", "/v1.0/jobs/reminder-r1")] * 2


async def reminder_rows(runtime: Runtime) -> list[Reminder]:
    async with runtime.uow() as uow:
        return list(await uow.session.scalars(select(Reminder).order_by(Reminder.fire_at)))


async def test_a_job_trigger_fires_a_due_reminder_exactly_once(
    stack: Stack, api: tuple[Runtime, httpx.AsyncClient]
) -> None:
    _, api_client = api
    await create_task(
        api_client, {"title": "stand-up", "due_at": "2026-03-02T08:10:00Z", "reminders": [{"before": "PT9M"}]}
    )
    notifications, client = await stack.service("notifications")
    [row] = await reminder_rows(notifications)

    async def trigger() -> httpx.Response:
        """What daprd does when the job fires."""
        return await client.post(f"/job/{job_name(row.id)}", json={"reminder_id": row.id})

    assert (await trigger()).json() == {"job": job_name(row.id), "fired": 0}  # an early job fires nothing
    stack.clock.advance(timedelta(minutes=1))  # 08:01, the fire time
    answers = [(await trigger()).json()["fired"] for _ in range(2)]
    assert answers == [1, 0]
    assert len(await outbox_events(notifications, "reminders")) == 1
    assert [(r.state, r.fired_at) for r in await reminder_rows(notifications)] == [
        ("fired", START + timedelta(minutes=1))
    ]


async def test_job_route_exists_only_where_reminders_fire(
    stack: Stack, api: tuple[Runtime, httpx.AsyncClient]
) -> None:
    _, client = await stack.service("audit")
    assert (await client.post("/job/reminder-x")).status_code == 404


async def test_reconciler_keeps_one_job_per_pending_reminder_in_the_horizon(
    stack: Stack, api: tuple[Runtime, httpx.AsyncClient]
) -> None:
    _, api_client = api
    headers, task = await create_task(
        api_client,
        {
            "title": "call",
            "due_at": "2026-03-02T08:20:00Z",
            "reminders": [{"before": "PT10M"}, {"before": "PT5M"}],
        },
    )
    notifications, _ = await stack.service("notifications")
    assert isinstance(notifications.bus, DaprBus)
    horizon = timedelta(minutes=12)  # until 08:12
    jobs = ReminderJobs(notifications.uow, stack.clock, DaprJobs(notifications.bus.client), horizon=horizon)

    async def expected() -> dict[str, str]:
        """What the sidecar should hold: the pending reminders firing within the horizon."""
        until = stack.clock.now() + horizon
        return {
            job_name(r.id): f"{r.fire_at:%Y-%m-%dT%H:%M:%S}Z"
            for r in await reminder_rows(notifications)
            if r.state == "pending" and r.fire_at is not None and r.fire_at <= until
        }

    def live() -> dict[str, str]:
        return {name: body["dueTime"] for name, body in stack.sidecar.jobs.items()}

    assert await jobs.reconcile() == (1, 0)
    assert list(live().values()) == ["2026-03-02T08:10:00Z"] and live() == await expected()
    assert await jobs.reconcile() == (0, 0)  # nothing changed: no call
    moved = await api_client.patch(
        f"/api/v1/tasks/{task['id']}", json={"due_at": "2026-03-02T08:22:00Z"}, headers=headers
    )
    assert moved.status_code == 200, moved.text
    await jobs.reconcile()
    assert list(live().values()) == ["2026-03-02T08:12:00Z"] and live() == await expected()
    assert (await api_client.delete(f"/api/v1/tasks/{task['id']}", headers=headers)).status_code == 204
    await jobs.reconcile()
    assert live() == {}


async def test_service_tokens_both_ways(
    stack: Stack, api: tuple[Runtime, httpx.AsyncClient], sidecar: Sidecar
) -> None:
    """The app sends DAPR_API_TOKEN to daprd and accepts calls only with daprd's APP_API_TOKEN."""
    _, client = await stack.service(
        "notifications", dapr_api_token="to-sidecar", dapr_app_token="sidecar-secret"
    )
    del client.headers["dapr-api-token"]
    for headers in ({}, {"dapr-api-token": "guess"}, {"dapr-api-token": APP_TOKEN}):
        assert await deliver(client, "task-events", event("e-8", "user-1"), headers=headers) == 401
        assert (await client.post("/job/reminder-x", headers=headers)).status_code == 401
    right = {"dapr-api-token": "sidecar-secret"}
    assert await deliver(client, "task-events", event("e-9", "user-1"), headers=right) == "SUCCESS"
    bus = DaprBus(http_port=sidecar.port, api_token="to-sidecar")
    await bus.start()
    try:
        await bus.publish([Message("task-events", "user-1", event("e-1", "user-1"))])
    finally:
        await bus.stop()
    assert [r.api_token for r in sidecar.publishes()] == ["to-sidecar"]


def test_the_dapr_bus_needs_the_app_token(tmp_path: Path) -> None:
    """Without APP_API_TOKEN's twin the service does not start: its event routes would take anyone's post."""
    settings = dapr_settings(tmp_path, free_port()).model_copy(update={"dapr_app_token": None})
    with pytest.raises(SystemExit, match="TASKSTREAM_DAPR_APP_TOKEN is required"):
        Runtime(settings, services=("audit",))

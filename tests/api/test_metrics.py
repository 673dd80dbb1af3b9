"""The figures on /metrics move when the thing they count happens, and each request writes one log line."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import APIRouter
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from taskstream.api.middleware import HardenedApp
from taskstream.domain.clock import FixedClock
from taskstream.events.envelope import make_event
from taskstream.features.realtime.hub import Hub
from taskstream.runtime import Runtime
from tests.conftest import sign_up

HTTP = "taskstream_http_request_duration_seconds"


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_http_latency_is_counted_by_route_template_never_by_raw_path(client: httpx.AsyncClient) -> None:
    headers = await sign_up(client)
    route = {"method": "GET", "route": "/api/v1/tasks/{task_id}", "status": "200"}
    before = value(f"{HTTP}_count", **route)
    ids = [
        (await client.post("/api/v1/tasks", json={"title": f"t{n}"}, headers=headers)).json()["id"]
        for n in (1, 2)
    ]
    for task_id in ids:
        assert (await client.get(f"/api/v1/tasks/{task_id}", headers=headers)).status_code == 200
    assert value(f"{HTTP}_count", **route) == before + 2

    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    missed = value(f"{HTTP}_count", **unmatched)
    assert (await client.get("/api/v1/no-such-thing")).status_code == 404
    assert value(f"{HTTP}_count", **unmatched) == missed + 1

    exposition = (await client.get("/metrics")).text
    assert all(task_id not in exposition for task_id in ids)  # no raw path became a label


async def test_reminder_lateness_is_observed_when_fired_and_when_delivered(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    headers = await sign_up(client)
    at = clock.now() + timedelta(minutes=5)
    body = {
        "title": "call back",
        "due_at": (at + timedelta(hours=1)).isoformat(),
        "reminders": [{"at": at.isoformat()}],
    }
    assert (await client.post("/api/v1/tasks", json=body, headers=headers)).status_code == 201
    await runtime.drain()
    stages = ("fired", "delivered")
    counts = {s: value("taskstream_reminder_lateness_seconds_count", stage=s) for s in stages}
    sums = {s: value("taskstream_reminder_lateness_seconds_sum", stage=s) for s in stages}
    buckets = {
        le: value("taskstream_reminder_lateness_seconds_bucket", stage="fired", le=le)
        for le in ("30.0", "60.0")
    }
    late_by = 42.0
    clock.set(at + timedelta(seconds=late_by))
    await runtime.drain()
    for stage in stages:
        assert value("taskstream_reminder_lateness_seconds_count", stage=stage) == counts[stage] + 1
        assert value("taskstream_reminder_lateness_seconds_sum", stage=stage) - sums[stage] == late_by
    after = {le: value("taskstream_reminder_lateness_seconds_bucket", stage="fired", le=le) for le in buckets}
    assert after == {"30.0": buckets["30.0"], "60.0": buckets["60.0"] + 1}  # 42 s: above 30, within 60
    assert (await client.get("/api/v1/notifications", headers=headers)).json()


class FakeSocket:
    def __init__(self, *, broken: bool = False) -> None:
        self.broken = broken
        self.sent: list[str] = []

    async def send_text(self, data: str) -> None:
        if self.broken:
            raise ConnectionError("gone")
        self.sent.append(data)


async def test_websocket_pushes_and_connections_are_counted(clock: FixedClock) -> None:
    hub = Hub()
    good, broken = FakeSocket(), FakeSocket(broken=True)
    connections = value("taskstream_websocket_connections")
    sent, dropped = (value("taskstream_websocket_pushes_total", outcome=o) for o in ("sent", "dropped"))
    assert hub.add("u1", good) and hub.add("u1", broken)
    assert value("taskstream_websocket_connections") == connections + 2
    event = make_event(
        "com.taskstream.task.created.v1", subject="t", partitionkey="u1", data={}, time=clock.now()
    )
    await hub.push(event)
    assert value("taskstream_websocket_pushes_total", outcome="sent") == sent + 1 and good.sent
    assert value("taskstream_websocket_pushes_total", outcome="dropped") == dropped + 1
    assert value("taskstream_websocket_connections") == connections + 1  # the broken one was closed
    hub.remove("u1", good)
    assert value("taskstream_websocket_connections") == connections


async def test_each_request_writes_one_line_at_info_and_a_failure_one_at_error() -> None:
    app = HardenedApp()
    router = APIRouter()

    @router.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        return {"id": item_id}

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("broken on purpose")

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(router)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        with capture_logs() as logs:
            assert (await http.get("/items/42?secret=x")).status_code == 200
            assert (await http.get("/boom")).status_code == 500
            assert (await http.get("/healthz")).status_code == 200
    lines = [line for line in logs if line["event"] in ("request", "request failed")]
    assert [(line["log_level"], line["route"], line["path"], line["status"]) for line in lines] == [
        ("info", "/items/{item_id}", "/items/42", 200),
        ("error", "/boom", "/boom", 500),
    ]
    assert all(line["duration_ms"] >= 0 for line in lines)

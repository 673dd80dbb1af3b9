"""The task API's contract through the real FastAPI app (in-process), on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta
from typing import Any

import httpx

from taskstream.domain.clock import FixedClock
from taskstream.runtime import Runtime
from tests.conftest import sign_up


async def test_create_returns_full_task(client: httpx.AsyncClient) -> None:
    headers = await sign_up(client, timezone="Europe/Berlin")
    body = {
        "title": "Water plants",
        "priority": "high",
        "tags": ["Home", "#garden"],
        "due_at": "2026-03-03T09:00:00+01:00",
        "recurrence": "freq=daily;interval=2",
        "reminders": [{"before": "PT10M"}, {"at": "2026-03-03T06:00:00Z"}],
    }
    response = await client.post("/api/v1/tasks", json=body, headers=headers)
    assert response.status_code == 201, response.text
    task = response.json()
    assert task["title"] == "Water plants"
    assert task["priority"] == "high"
    assert task["tags"] == ["home", "garden"]
    assert task["due_at"] == "2026-03-03T08:00:00Z"
    assert task["timezone"] == "Europe/Berlin"
    assert task["recurrence"] == "FREQ=DAILY;INTERVAL=2"
    assert task["series_id"] == task["id"]
    assert (task["completed"], task["completed_at"], task["version"]) == (False, None, 1)
    fire = [(r["before"], r["at"], r["fire_at"]) for r in task["reminders"]]
    assert fire == [
        ("PT10M", None, "2026-03-03T07:50:00Z"),
        (None, "2026-03-03T06:00:00Z", "2026-03-03T06:00:00Z"),
    ]


async def test_bad_input_names_the_field_and_writes_nothing(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await sign_up(client)
    cases = [
        ({"description": "no title"}, "title"),
        ({"title": "x" * 501}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "t", "priority": "critical"}, "priority"),
        ({"title": "t", "due_at": "2026-03-03T09:00:00+00:00", "recurrence": "FREQ=SOMETIMES"}, "recurrence"),
        ({"title": "t", "timezone": "Nowhere/Town"}, "timezone"),
        ({"title": "t", "reminders": [{"before": "PT10M"}]}, "reminders.0.before"),
        ({"title": "t", "due_at": "2026-03-03T09:00:00"}, "due_at"),
        ({"title": "t", "due_at": "2026-03-03T09:00:00Z", "due_date": "2026-03-03"}, "due_date"),
        ({"title": "t", "recurrence": "FREQ=DAILY"}, "recurrence"),
        (
            {
                "title": "t",
                "due_date": "2026-03-03",
                "reminders": [{"before": "PT1M", "at": "2026-03-03T09:00:00Z"}],
            },
            "reminders.0",
        ),
    ]
    for body, field in cases:
        response = await client.post("/api/v1/tasks", json=body, headers=headers)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["field"] == field, (body, response.json())
    listing = await client.get("/api/v1/tasks", headers=headers)
    assert listing.json()["items"] == []
    async with runtime.uow() as uow:
        assert (await uow.outbox.backlog())[0] == 0


async def test_other_users_task_is_404_everywhere(client: httpx.AsyncClient, runtime: Runtime) -> None:
    ada = await sign_up(client, "ada@example.com")
    bob = await sign_up(client, "bob@example.com")
    task = (await client.post("/api/v1/tasks", json={"title": "secret", "tags": ["x"]}, headers=ada)).json()
    await runtime.drain()
    for method, path in [
        ("GET", f"/api/v1/tasks/{task['id']}"),
        ("PATCH", f"/api/v1/tasks/{task['id']}"),
        ("DELETE", f"/api/v1/tasks/{task['id']}"),
        ("POST", f"/api/v1/tasks/{task['id']}/complete"),
        ("POST", f"/api/v1/tasks/{task['id']}/reopen"),
        ("GET", f"/api/v1/tasks/{task['id']}/history"),
    ]:
        body = {"title": "mine"} if method == "PATCH" else None
        response = await client.request(method, path, headers=bob, json=body)
        assert response.status_code == 404, (method, path, response.status_code)
    assert (await client.get("/api/v1/tasks", headers=bob)).json()["items"] == []
    assert (await client.get("/api/v1/tags", headers=bob)).json() == []
    assert (await client.get("/api/v1/audit", headers=bob)).json() == []
    assert (await client.get(f"/api/v1/tasks/{task['id']}", headers=ada)).json()["title"] == "secret"


async def test_patch_is_partial_and_if_match_guards(client: httpx.AsyncClient) -> None:
    headers = await sign_up(client)
    task = (
        await client.post("/api/v1/tasks", json={"title": "draft", "priority": "low"}, headers=headers)
    ).json()
    patched = await client.patch(
        f"/api/v1/tasks/{task['id']}", json={"title": "final"}, headers=headers | {"If-Match": '"1"'}
    )
    assert patched.status_code == 200
    assert (patched.json()["title"], patched.json()["priority"], patched.json()["version"]) == (
        "final",
        "low",
        2,
    )
    assert patched.headers["ETag"] == '"2"'
    stale = await client.patch(
        f"/api/v1/tasks/{task['id']}", json={"title": "again"}, headers=headers | {"If-Match": '"1"'}
    )
    assert (stale.status_code, stale.json()["field"]) == (412, "If-Match")
    same = await client.patch(f"/api/v1/tasks/{task['id']}", json={"title": "final"}, headers=headers)
    assert same.json()["version"] == 2
    cleared = await client.patch(
        f"/api/v1/tasks/{task['id']}", json={"due_date": "2026-04-01"}, headers=headers
    )
    assert (cleared.json()["due_date"], cleared.json()["due_at"]) == ("2026-04-01", None)
    null_title = await client.patch(f"/api/v1/tasks/{task['id']}", json={"title": None}, headers=headers)
    assert (null_title.status_code, null_title.json()["field"]) == (422, "title")


async def test_due_change_recomputes_reminders(client: httpx.AsyncClient) -> None:
    headers = await sign_up(client)
    body = {"title": "call", "due_at": "2026-03-03T10:00:00Z", "reminders": [{"before": "PT15M"}]}
    task = (await client.post("/api/v1/tasks", json=body, headers=headers)).json()
    moved = await client.patch(
        f"/api/v1/tasks/{task['id']}", json={"due_at": "2026-03-04T12:00:00Z"}, headers=headers
    )
    assert moved.json()["reminders"][0]["fire_at"] == "2026-03-04T11:45:00Z"


async def test_delete_then_gone(client: httpx.AsyncClient) -> None:
    headers = await sign_up(client)
    task = (await client.post("/api/v1/tasks", json={"title": "bye"}, headers=headers)).json()
    assert (await client.delete(f"/api/v1/tasks/{task['id']}", headers=headers)).status_code == 204
    assert (await client.get(f"/api/v1/tasks/{task['id']}", headers=headers)).status_code == 404


async def test_complete_and_reopen_are_idempotent(
    client: httpx.AsyncClient, runtime: Runtime, clock: FixedClock
) -> None:
    headers = await sign_up(client)
    task = (await client.post("/api/v1/tasks", json={"title": "once"}, headers=headers)).json()
    clock.advance(timedelta(minutes=5))
    first = (await client.post(f"/api/v1/tasks/{task['id']}/complete", headers=headers)).json()
    second = (await client.post(f"/api/v1/tasks/{task['id']}/complete", headers=headers)).json()
    assert first["completed"] and first["completed_at"] == "2026-03-02T08:05:00Z"
    assert second["version"] == first["version"] == 2
    reopened = (await client.post(f"/api/v1/tasks/{task['id']}/reopen", headers=headers)).json()
    assert (reopened["completed"], reopened["completed_at"], reopened["version"]) == (False, None, 3)
    await runtime.drain()
    history = (await client.get(f"/api/v1/tasks/{task['id']}/history", headers=headers)).json()
    assert [e["event_type"] for e in history] == ["reopened", "completed", "created"]


async def test_request_too_large_is_413(client: httpx.AsyncClient) -> None:
    headers = await sign_up(client)
    response = await client.post(
        "/api/v1/tasks",
        content=b'{"title": "' + b"x" * 1_100_000 + b'"}',
        headers=headers | {"Content-Type": "application/json"},
    )
    assert response.status_code == 413


async def test_health_and_openapi(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json()["database"] == "ok"
    spec = (await client.get("/openapi.json")).json()
    assert "/api/v1/tasks/{task_id}/complete" in spec["paths"]
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text
    assert (await client.get("/docs-assets/swagger-ui-bundle.js")).status_code == 200


async def test_recurrence_preview(client: httpx.AsyncClient) -> None:
    headers = await sign_up(client, timezone="America/New_York")
    body = {"recurrence": "freq=monthly", "due_at": "2025-01-31T14:00:00Z", "count": 4}
    preview = (await client.post("/api/v1/recurrence/preview", json=body, headers=headers)).json()
    assert preview["recurrence"] == "FREQ=MONTHLY"
    assert preview["text"] == "every month"
    assert preview["occurrences"] == [
        "2025-01-31T14:00:00Z",
        "2025-02-28T14:00:00Z",
        "2025-03-31T13:00:00Z",
        "2025-04-30T13:00:00Z",
    ]
    days = {"recurrence": "FREQ=WEEKLY;BYDAY=MO,TH", "due_date": "2026-03-02", "count": 3}
    assert (await client.post("/api/v1/recurrence/preview", json=days, headers=headers)).json()[
        "occurrences"
    ] == ["2026-03-02", "2026-03-05", "2026-03-09"]
    bad = await client.post(
        "/api/v1/recurrence/preview",
        json={"recurrence": "FREQ=OFTEN", "due_date": "2026-03-02"},
        headers=headers,
    )
    assert (bad.status_code, bad.json()["field"]) == (422, "recurrence")
    missing = await client.post(
        "/api/v1/recurrence/preview", json={"recurrence": "FREQ=DAILY"}, headers=headers
    )
    assert (missing.status_code, missing.json()["field"]) == (422, "due_at")
    preview = {"recurrence": "FREQ=DAILY", "due_date": "2026-03-02", "timezone": "CET"}  # not IANA
    for path, zoned in (
        ("/api/v1/recurrence/preview", preview),
        ("/api/v1/tasks", {"title": "x", "timezone": "CET"}),
    ):
        refused = await client.post(path, json=zoned, headers=headers)  # one zone rule for both
        assert (refused.status_code, refused.json()["field"]) == (422, "timezone"), path


async def test_out_of_range_and_disguised_input_is_refused(client: httpx.AsyncClient) -> None:
    headers = await sign_up(client, timezone="Europe/Berlin")
    cases = [
        ({"title": "old", "due_at": "0001-01-01T00:00:00Z"}, "due_at"),
        ({"title": "far", "due_at": "9999-12-31T23:59:59Z", "recurrence": "FREQ=DAILY"}, "due_at"),
        ({"title": "far", "due_date": "0001-01-01", "reminders": [{"before": "P1D"}]}, "due_date"),
        (
            {"title": "long", "due_date": "2026-12-01", "reminders": [{"before": "P999999999D"}]},
            "reminders.0.before",
        ),
        (
            {"title": "ended", "due_date": "2026-12-01", "recurrence": "FREQ=DAILY;UNTIL=20200101"},
            "recurrence",
        ),
        ({"title": "nul\x00byte"}, "title"),
        ({"title": "evil\u202etxt.exe"}, "title"),
        ({"title": "ok", "description": "bell\x07"}, "description"),
    ]
    for body, field in cases:
        response = await client.post("/api/v1/tasks", json=body, headers=headers)
        assert (response.status_code, response.json()["field"]) == (422, field), (body, response.text)
    broken = await client.post(
        "/api/v1/tasks", content=b'{"title": ', headers=headers | {"Content-Type": "application/json"}
    )
    assert broken.status_code == 422
    assert broken.json()["field"] is None and "not valid JSON" in broken.json()["message"]
    assert (await client.get("/api/v1/tasks", headers=headers)).json()["items"] == []


async def test_delete_honours_if_match(client: httpx.AsyncClient) -> None:
    headers = await sign_up(client)
    task = (await client.post("/api/v1/tasks", json={"title": "v1"}, headers=headers)).json()
    await client.patch(f"/api/v1/tasks/{task['id']}", json={"title": "v2"}, headers=headers)
    stale = await client.delete(f"/api/v1/tasks/{task['id']}", headers=headers | {"If-Match": '"1"'})
    assert (stale.status_code, stale.json()["field"]) == (412, "If-Match")
    fresh = await client.delete(f"/api/v1/tasks/{task['id']}", headers=headers | {"If-Match": '"2"'})
    assert fresh.status_code == 204


async def test_estimate_minutes_is_optional_bounded_and_in_the_history(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await sign_up(client)
    created = await client.post(
        "/api/v1/tasks", json={"title": "Report", "estimate_minutes": 90}, headers=headers
    )
    assert (created.status_code, created.json()["estimate_minutes"]) == (201, 90)
    task_id = created.json()["id"]
    for bad in (0, 1441, -5, "an hour", 1.5):
        refused = await client.patch(
            f"/api/v1/tasks/{task_id}", json={"estimate_minutes": bad}, headers=headers
        )
        assert (refused.status_code, refused.json()["field"]) == (422, "estimate_minutes"), bad
    cleared = await client.patch(f"/api/v1/tasks/{task_id}", json={"estimate_minutes": None}, headers=headers)
    assert (cleared.json()["estimate_minutes"], cleared.json()["version"]) == (None, 2)
    plain = await client.post("/api/v1/tasks", json={"title": "No estimate"}, headers=headers)
    assert plain.json()["estimate_minutes"] is None
    await runtime.drain()
    history = (await client.get(f"/api/v1/tasks/{task_id}/history", headers=headers)).json()
    assert history[0]["event_type"] == "updated"
    assert history[0]["changes"] == {"estimate_minutes": {"old": 90, "new": None}}
    listed = (await client.get("/api/v1/tasks", params={"q": "report"}, headers=headers)).json()["items"]
    assert [t["estimate_minutes"] for t in listed] == [None]


async def test_inputs_that_used_to_answer_500_get_a_4xx_naming_the_field(client: httpx.AsyncClient) -> None:
    headers = await sign_up(client)

    def cursor(*parts: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")

    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("GET", "/api/v1/audit", {"params": {"before_id": str(2**63)}}, "before_id"),
        ("POST", "/api/v1/tasks", {"json": {"title": "x", "due_at": "0001-01-01T00:30:00+01:00"}}, "due_at"),
        ("GET", "/api/v1/tasks", {"params": {"due_before": "0001-01-01T00:30:00+01:00"}}, "due_before"),
        (
            "POST",
            "/api/v1/recurrence/preview",
            {"json": {"recurrence": "FREQ=DAILY", "due_at": "0001-01-01T00:30:00+01:00"}},
            "due_at",
        ),
        ("GET", "/api/v1/tasks", {"params": {"cursor": cursor("due", 5, 7)}}, "cursor"),
        (
            "GET",
            "/api/v1/tasks",
            {"params": {"sort": "priority", "cursor": cursor("priority", "x", "id")}},
            "cursor",
        ),
        ("GET", "/api/v1/tasks", {"params": {"cursor": "!!not base64 at all"}}, "cursor"),
        ("POST", "/api/v1/tasks", {"content": '{"title": "x", "tags": ["\\ud800"]}'}, "tags"),
        ("POST", "/api/v1/tasks", {"json": {"title": "wo\u200brk"}}, "title"),
        ("POST", "/api/v1/notifications/none/snooze", {"json": {"for": "P10000Y"}}, "for"),
        ("POST", "/api/v1/notifications/none/snooze", {"json": {"for": "-PT1H"}}, "for"),
        ("POST", "/api/v1/notifications/none/snooze", {"json": {"for": "PT0S"}}, "for"),
        ("POST", "/api/v1/notifications/none/snooze", {"json": {"for": "P99999999999999D"}}, "for"),
        ("POST", "/api/v1/notifications/none/snooze", {"json": {"for": 1e300}}, "for"),
        # integers past 64 bits, in every integer parameter
        ("GET", "/api/v1/audit", {"params": {"before_id": str(2**64)}}, "before_id"),
        ("GET", "/api/v1/audit", {"params": {"limit": str(2**63)}}, "limit"),
        ("GET", "/api/v1/tasks", {"params": {"limit": str(-(2**63) - 1)}}, "limit"),
        ("GET", "/api/v1/notifications", {"params": {"limit": str(2**64)}}, "limit"),
        ("POST", "/api/v1/tasks", {"json": {"title": "x", "estimate_minutes": 2**64}}, "estimate_minutes"),
        # the last years of the calendar, shifted past its end by their offset
        ("POST", "/api/v1/tasks", {"json": {"title": "x", "due_at": "9999-12-31T23:30:00-01:00"}}, "due_at"),
        ("GET", "/api/v1/tasks", {"params": {"due_after": "9999-12-31T23:30:00-01:00"}}, "due_after"),
        ("GET", "/api/v1/tasks", {"params": {"due_before": "9999-12-31"}}, "due_before"),
        (
            "POST",
            "/api/v1/recurrence/preview",
            {"json": {"recurrence": "FREQ=DAILY", "due_at": "9999-12-31T23:30:00-01:00"}},
            "due_at",
        ),
        (
            "POST",
            "/api/v1/tasks",
            {"json": {"title": "x", "reminders": [{"at": "0001-01-01T00:10:00+01:00"}]}},
            "reminders.0.at",
        ),
        # durations past what a timedelta holds, or negative
        (
            "POST",
            "/api/v1/tasks",
            {"json": {"title": "x", "due_date": "2026-05-01", "reminders": [{"before": "P99999999999D"}]}},
            "reminders.0.before",
        ),
        (
            "POST",
            "/api/v1/tasks",
            {"json": {"title": "x", "due_date": "2026-05-01", "reminders": [{"before": "-PT1M"}]}},
            "reminders.0.before",
        ),
        # tampered cursors: valid base64 JSON with the wrong shapes and types inside
        ("GET", "/api/v1/tasks", {"params": {"cursor": cursor("due", {"at": 1}, "id")}}, "cursor"),
        (
            "GET",
            "/api/v1/tasks",
            {"params": {"cursor": cursor("due", "2026-03-02T08:00:00+00:00", 7)}},
            "cursor",
        ),
        ("GET", "/api/v1/tasks", {"params": {"sort": "title", "cursor": cursor("title", 5, "id")}}, "cursor"),
        (
            "GET",
            "/api/v1/tasks",
            {"params": {"sort": "created", "cursor": cursor("created", None, "i")}},
            "cursor",
        ),
        ("GET", "/api/v1/tasks", {"params": {"cursor": cursor("due", "x")}}, "cursor"),
        (
            "GET",
            "/api/v1/tasks",
            {"params": {"cursor": base64.urlsafe_b64encode(b'{"a": 1}').decode()}},
            "cursor",
        ),
        # lone surrogates wherever text goes in
        ("POST", "/api/v1/tasks", {"content": '{"title": "x\\udfff"}'}, "title"),
        ("POST", "/api/v1/tasks", {"content": '{"title": "x", "description": "\\ud83d"}'}, "description"),
        ("POST", "/api/v1/tasks", {"content": '{"title": "x", "tags": ["ok", "#\\udc00"]}'}, "tags"),
    ]
    for method, path, kwargs, field in cases:
        extra = {"Content-Type": "application/json"} if "content" in kwargs else {}
        started = time.monotonic()
        response = await client.request(method, path, headers=headers | extra, **kwargs)
        assert 400 <= response.status_code < 500, (path, kwargs, response.status_code, response.text)
        assert response.json()["field"] == field, (path, kwargs, response.json())
        assert time.monotonic() - started < 1.0, (path, kwargs)  # refused at once, not after a struggle
    assert (await client.get("/api/v1/tasks", headers=headers)).json()["items"] == []  # nothing was written

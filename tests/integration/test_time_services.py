"""Issue 4's cases end to end through the API, the outbox and the recurring and notification services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from taskstream.domain.clock import FixedClock
from taskstream.runtime import Runtime
from tests.conftest import sign_up


async def _complete_chain(
    client: httpx.AsyncClient,
    runtime: Runtime,
    clock: FixedClock,
    headers: dict[str, str],
    body: dict[str, Any],
    *,
    steps: int,
    tz: str,
    complete_at: str | None = None,
) -> list[str]:
    """Create, then complete each occurrence on its own due day; returns the local due of each new one."""
    task = (await client.post("/api/v1/tasks", json=body, headers=headers)).json()
    seen: list[str] = []
    for _ in range(steps):
        due = datetime.fromisoformat(task["due_at"])
        local = due.astimezone(ZoneInfo(tz))
        at = (
            local
            if complete_at is None
            else datetime.combine(local.date(), datetime.strptime(complete_at, "%H:%M").time(), ZoneInfo(tz))
        )
        clock.set(at)
        await client.post(f"/api/v1/tasks/{task['id']}/complete", headers=headers)
        await runtime.drain()
        items = (await client.get("/api/v1/tasks", params={"completed": "false"}, headers=headers)).json()[
            "items"
        ]
        assert len(items) == 1, items
        task = items[0]
        seen.append(
            datetime.fromisoformat(task["due_at"]).astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %a %H:%M")
        )
    return seen


async def test_month_end_never_drifts(client: httpx.AsyncClient, runtime: Runtime, clock: FixedClock) -> None:
    clock.set(datetime(2025, 1, 20, tzinfo=UTC))
    headers = await sign_up(client, timezone="Europe/London")
    body = {"title": "invoice", "due_at": "2025-01-31T09:00:00Z", "recurrence": "FREQ=MONTHLY"}
    assert await _complete_chain(client, runtime, clock, headers, body, steps=3, tz="Europe/London") == [
        "2025-02-28 Fri 09:00",
        "2025-03-31 Mon 09:00",
        "2025-04-30 Wed 09:00",
    ]


async def test_berlin_weekly_midnight_survives_dst_end(
    client: httpx.AsyncClient, runtime: Runtime, clock: FixedClock
) -> None:
    clock.set(datetime(2016, 9, 1, tzinfo=UTC))
    headers = await sign_up(client, timezone="Europe/Berlin")
    body = {"title": "bins", "due_at": "2016-10-18T00:00:00+02:00", "recurrence": "FREQ=WEEKLY;BYDAY=TU"}
    assert await _complete_chain(client, runtime, clock, headers, body, steps=3, tz="Europe/Berlin") == [
        "2016-10-25 Tue 00:00",
        "2016-11-01 Tue 00:00",
        "2016-11-08 Tue 00:00",
    ]


async def test_auckland_daily_across_dst_start(
    client: httpx.AsyncClient, runtime: Runtime, clock: FixedClock
) -> None:
    clock.set(datetime(2022, 9, 20, tzinfo=UTC))
    headers = await sign_up(client, timezone="Pacific/Auckland")
    body = {"title": "walk", "due_at": "2022-09-24T07:00:00+12:00", "recurrence": "FREQ=DAILY"}
    got = await _complete_chain(
        client, runtime, clock, headers, body, steps=2, tz="Pacific/Auckland", complete_at="10:00"
    )
    assert got == ["2022-09-25 Sun 07:00", "2022-09-26 Mon 07:00"]


async def test_last_friday_monthly(client: httpx.AsyncClient, runtime: Runtime, clock: FixedClock) -> None:
    clock.set(datetime(2025, 3, 1, tzinfo=UTC))
    headers = await sign_up(client, timezone="UTC")
    body = {"title": "review", "due_at": "2025-03-28T15:00:00Z", "recurrence": "FREQ=MONTHLY;BYDAY=-1FR"}
    assert await _complete_chain(client, runtime, clock, headers, body, steps=2, tz="UTC") == [
        "2025-04-25 Fri 15:00",
        "2025-05-30 Fri 15:00",
    ]


@pytest.mark.parametrize("zone", ["Pacific/Honolulu", "Asia/Tokyo"])
async def test_all_day_date_never_shifts(client: httpx.AsyncClient, zone: str) -> None:
    headers = await sign_up(client, timezone=zone)
    task = (
        await client.post("/api/v1/tasks", json={"title": "trip", "due_date": "2026-08-09"}, headers=headers)
    ).json()
    for n, change in enumerate(
        [{"title": "trip!"}, {"priority": "high"}, {"tags": ["x"]}, {"timezone": "UTC"}]
    ):
        task = (await client.patch(f"/api/v1/tasks/{task['id']}", json=change, headers=headers)).json()
        assert (task["due_date"], task["due_at"], task["version"]) == ("2026-08-09", None, n + 2)
    listed = await client.get(
        "/api/v1/tasks", params={"due_after": "2026-08-09", "due_before": "2026-08-10"}, headers=headers
    )
    assert [t["due_date"] for t in listed.json()["items"]] == ["2026-08-09"]


async def test_reminder_completed_from_its_notification_waits_for_next_occurrence(
    client: httpx.AsyncClient, runtime: Runtime, clock: FixedClock
) -> None:
    clock.set(datetime(2026, 3, 2, 7, 0, tzinfo=UTC))
    headers = await sign_up(client, timezone="UTC")
    body = {
        "title": "pills",
        "due_at": "2026-03-02T09:00:00Z",
        "recurrence": "FREQ=DAILY",
        "reminders": [{"before": "PT1H"}],
    }
    task = (await client.post("/api/v1/tasks", json=body, headers=headers)).json()
    clock.set(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    await runtime.drain()
    assert len((await client.get("/api/v1/notifications", headers=headers)).json()) == 1
    clock.set(datetime(2026, 3, 2, 8, 1, tzinfo=UTC))
    await client.post(f"/api/v1/tasks/{task['id']}/complete", headers=headers)
    await runtime.drain()
    for minute in (8, 9, 23 * 60 + 58):  # from 08:01 up to 2026-03-03 07:59
        clock.set(datetime(2026, 3, 2, 8, 1, tzinfo=UTC) + timedelta(minutes=minute))
        await runtime.drain()
    assert len((await client.get("/api/v1/notifications", headers=headers)).json()) == 1
    clock.set(datetime(2026, 3, 3, 8, 0, tzinfo=UTC))
    await runtime.drain()
    notes = (await client.get("/api/v1/notifications", headers=headers)).json()
    assert [n["remind_at"] for n in notes] == ["2026-03-03T08:00:00Z", "2026-03-02T08:00:00Z"]


async def test_overdue_completion_skips_missed_unless_kept(
    client: httpx.AsyncClient, runtime: Runtime, clock: FixedClock
) -> None:
    clock.set(datetime(2026, 3, 1, tzinfo=UTC))
    headers = await sign_up(client, timezone="UTC")
    for keep, expected in ((False, "2026-03-11T09:00:00Z"), (True, "2026-03-03T09:00:00Z")):
        clock.set(datetime(2026, 3, 1, tzinfo=UTC))
        body = {
            "title": f"keep={keep}",
            "due_at": "2026-03-02T09:00:00Z",
            "recurrence": "FREQ=DAILY",
            "keep_missed": keep,
        }
        task = (await client.post("/api/v1/tasks", json=body, headers=headers)).json()
        clock.set(datetime(2026, 3, 10, 12, 0, tzinfo=UTC))  # eight occurrences missed
        await client.post(f"/api/v1/tasks/{task['id']}/complete", headers=headers)
        await runtime.drain()
        items = (
            await client.get(
                "/api/v1/tasks", params={"completed": "false", "q": f"keep {keep}"}, headers=headers
            )
        ).json()
        assert [t["due_at"] for t in items["items"]] == [expected]


async def test_completing_a_from_completion_series_early_makes_the_next_occurrence(
    client: httpx.AsyncClient, runtime: Runtime, clock: FixedClock
) -> None:
    """Due tomorrow, done today: today + 1 day is the due just completed, so the next one is the day after."""
    clock.set(datetime(2026, 12, 3, 18, tzinfo=UTC))
    headers = await sign_up(client, timezone="Europe/Berlin")
    body = {
        "title": "Stretch",
        "due_date": "2026-12-04",
        "recurrence": "FREQ=DAILY",
        "repeat_from": "completion",
    }
    task = (await client.post("/api/v1/tasks", json=body, headers=headers)).json()
    await client.post(f"/api/v1/tasks/{task['id']}/complete", headers=headers)
    await runtime.drain()
    [following] = (await client.get("/api/v1/tasks", params={"completed": "false"}, headers=headers)).json()[
        "items"
    ]
    assert (following["title"], following["due_date"], following["series_id"]) == (
        "Stretch",
        "2026-12-05",
        task["id"],
    )
    history = (await client.get(f"/api/v1/tasks/{following['id']}/history", headers=headers)).json()
    assert [(e["event_type"], e["actor"]) for e in history] == [("created", "recurring")]


async def test_durations_round_trip_and_days_are_calendar_days_through_the_api(
    client: httpx.AsyncClient, runtime: Runtime, clock: FixedClock
) -> None:
    clock.set(datetime(2027, 3, 20, tzinfo=UTC))
    headers = await sign_up(client, timezone="Europe/Berlin")
    body = {
        "title": "Dentist",
        "due_at": "2027-03-28T09:00:00+02:00",  # summer time started at 02:00 that night
        "reminders": [{"before": "P1D"}, {"before": "PT24H"}, {"before": "P1W"}, {"before": "pt90m"}],
    }
    created = await client.post("/api/v1/tasks", json=body, headers=headers)
    assert created.status_code == 201, created.text
    task = (await client.get(f"/api/v1/tasks/{created.json()['id']}", headers=headers)).json()
    assert [(r["before"], r["fire_at"]) for r in task["reminders"]] == [
        ("P1D", "2027-03-27T08:00:00Z"),  # 09:00 CET, the day before
        ("PT24H", "2027-03-27T07:00:00Z"),  # 08:00 CET: 24 hours
        ("P1W", "2027-03-21T08:00:00Z"),
        ("PT1H30M", "2027-03-28T05:30:00Z"),
    ]
    bad = await client.post("/api/v1/tasks", json=body | {"reminders": [{"before": "P1M"}]}, headers=headers)
    assert (bad.status_code, bad.json()["field"]) == (422, "reminders.0.before")

    # All-day reminders count from the user's time of day, in new tasks and in the next occurrences.
    changed = await client.patch("/api/v1/me", json={"all_day_reminder_time": "07:30"}, headers=headers)
    assert changed.json()["all_day_reminder_time"] == "07:30"
    daily = {
        "title": "Plants",
        "due_date": "2027-03-27",
        "recurrence": "FREQ=DAILY",
        "reminders": [{"before": "P1D"}],
    }
    plants = (await client.post("/api/v1/tasks", json=daily, headers=headers)).json()
    assert plants["reminders"][0]["fire_at"] == "2027-03-26T06:30:00Z"  # 07:30 CET on the 26th
    clock.set(datetime(2027, 3, 27, 10, tzinfo=UTC))
    await client.post(f"/api/v1/tasks/{plants['id']}/complete", headers=headers)
    await runtime.drain()
    items = (
        await client.get("/api/v1/tasks", params={"completed": "false", "q": "plants"}, headers=headers)
    ).json()
    [following] = items["items"]
    assert following["due_date"] == "2027-03-28"
    assert following["reminders"][0]["fire_at"] == "2027-03-27T06:30:00Z"  # 07:30 CET on the 27th
    wrong = await client.patch("/api/v1/me", json={"all_day_reminder_time": "7:30pm"}, headers=headers)
    assert (wrong.status_code, wrong.json()["field"]) == (422, "all_day_reminder_time")

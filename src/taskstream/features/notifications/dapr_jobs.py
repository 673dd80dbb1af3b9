"""Reminder wake-ups through the Dapr Jobs API (the sidecar's v1.0 HTTP API).

The reminders table stays the source of truth. `ReminderJobs` schedules one job per pending reminder that
falls due within a horizon, named `reminder-<reminder id>`, due at the row's fire time. When a job fires,
daprd calls `POST /job/<name>` on this app (see `bus.dapr_routes`), which runs `ReminderScheduler.fire_due()`:
rows are claimed, so a duplicate or late job fires nothing twice, and the scheduler's own poll still fires
every row, so a lost job loses no reminder. A job whose reminder was cancelled, moved or deleted is replaced
(same name, `overwrite`) or deleted on the next pass; if it fires first, it simply finds nothing due.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog

from taskstream.domain.clock import Clock
from taskstream.domain.errors import DependencyUnavailable
from taskstream.messaging.bus import Message
from taskstream.store.uow import UnitOfWorkFactory

log = structlog.get_logger(__name__)

JOBS_PATH = "/v1.0/jobs"
JOB_PREFIX = "reminder-"


class JobsUnavailable(Exception):
    """The sidecar did not take a Jobs API call (unreachable or non-2xx); try again on the next pass."""


def job_name(reminder_id: str) -> str:
    """The job of a reminder row: "reminder-<reminder id>" (deterministic: scheduling again replaces it)."""
    return f"{JOB_PREFIX}{reminder_id}"


def rfc3339(instant: datetime) -> str:
    """`instant` (aware) as an RFC 3339 UTC timestamp, e.g. "2026-03-02T08:01:00Z"; ValueError when naive."""
    if instant.tzinfo is None:
        raise ValueError("a job's due time must be timezone-aware")
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


class DaprJobs:
    """Client of the sidecar's Jobs API: one-shot jobs that call back `POST /job/<name>` on this app."""

    def __init__(self, client: Callable[[], httpx.AsyncClient]) -> None:
        self._client = client  # e.g. DaprBus.client: the sidecar connection the bus opens and closes

    async def schedule(self, name: str, due_time: datetime, data: dict[str, Any]) -> None:
        """Create/replace job `name` firing once at `due_time` (aware) with `data`; raises JobsUnavailable."""
        body = {"dueTime": rfc3339(due_time), "data": data, "overwrite": True}
        await self._call("POST", name, json=body)

    async def delete(self, name: str) -> None:
        """Delete job `name` (a job that is already gone is fine); raises JobsUnavailable."""
        await self._call("DELETE", name, missing_ok=True)

    async def _call(self, method: str, name: str, *, json: Any = None, missing_ok: bool = False) -> None:
        try:
            response = await self._client().request(method, f"{JOBS_PATH}/{name}", json=json)
        except httpx.HTTPError as error:
            raise JobsUnavailable(f"dapr jobs API unreachable: {error!r}") from error
        if response.is_success or (missing_ok and response.status_code == 404):
            return
        raise JobsUnavailable(f"dapr jobs API {method} {name}: {response.status_code} {response.text[:300]}")


class ReminderJobs:
    """Keeps one Dapr job per pending reminder due within `horizon`.

    It reconciles when a task event arrives (`on_task_event`: a task was created, changed, completed or
    deleted, so its reminder rows may have moved) and at least every `poll_s` seconds, which brings
    reminders into the horizon as time passes. What was scheduled is remembered in memory only (reminder id
    → fire time); after a restart every job is scheduled again, which is harmless: the name is deterministic
    and the call overwrites.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        jobs: DaprJobs,
        *,
        horizon: timedelta = timedelta(minutes=15),
        poll_s: float = 10.0,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._jobs = jobs
        self._horizon = horizon
        self._poll_s = poll_s
        self._wake = asyncio.Event()
        self.scheduled: dict[str, datetime] = {}

    async def on_task_event(self, message: Message) -> None:
        """A task-events delivery: reconcile soon (events arriving meanwhile share one pass)."""
        self._wake.set()

    async def run(self) -> None:
        """Reconcile until cancelled; a database or sidecar outage only delays the next pass."""
        while True:
            self._wake.clear()
            try:
                await self.reconcile()
            except (DependencyUnavailable, JobsUnavailable) as error:
                log.warning("reminder jobs not reconciled", error=str(error))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_s)

    async def reconcile(self) -> tuple[int, int]:
        """Schedule new or moved jobs and delete stale ones; returns (scheduled, deleted) in this pass."""
        now = self._clock.now()
        pending = await self._pending_until(now + self._horizon)
        created = deleted = 0
        for reminder_id, fire_at in pending.items():
            if self.scheduled.get(reminder_id) == fire_at:
                continue
            await self._jobs.schedule(job_name(reminder_id), fire_at, {"reminder_id": reminder_id})
            self.scheduled[reminder_id] = fire_at
            created += 1
        for reminder_id in [r for r in self.scheduled if r not in pending]:
            if self.scheduled[reminder_id] > now:  # not fired yet: cancelled, deleted/moved away
                await self._jobs.delete(job_name(reminder_id))
                deleted += 1
            del self.scheduled[reminder_id]
        if created or deleted:
            log.info("reminder jobs reconciled", scheduled=created, deleted=deleted)
        return created, deleted

    async def _pending_until(self, until: datetime) -> dict[str, datetime]:
        """Pending reminder rows firing at or before `until`: id → fire time (read-only query)."""
        async with self._uow.reader() as uow:
            return await uow.reminders.pending_until(until)

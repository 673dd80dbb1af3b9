"""Outbox relay: publishes committed outbox rows to the bus in order per partition key, in batches.

PostgreSQL: a leader lock. Each batch is one transaction that first takes `pg_try_advisory_xact_lock`, then
reads the oldest unsent rows in id order, publishes them, marks the confirmed ones sent and commits; the lock
ends with the transaction. A relay that finds the lock taken stands by and tries again on its next wake-up,
so any number of relay processes may run and one publishes at a time. If the leader dies mid-batch its
transaction rolls back, the lock is freed and a standby resumes at the first unsent row.

SQLite: the read transaction is closed before publishing (the in-process bus runs consumers that write
meanwhile, and SQLite has one writer); run a single relay process there.

A failed publish marks sent only the confirmed prefix of the batch (`PartialPublish.confirmed`), so a later
row of a key is never marked sent before an earlier one; the next pass starts at the first unconfirmed row.
Once publishing has failed for a second the relay logs an error (then once a minute) with how many rows
wait, and once it delivers again, how long the outage lasted.

Sent rows are kept for `retention` (default 7 days) and then deleted in batches: a broker that loses what it
had acknowledged (a wiped cluster) can be given those events again by marking them unsent
(`taskstream outbox replay`, OutboxRepository.requeue_sent); consumers' inboxes drop what they already had.
The same cleanup deletes inbox rows older than `inbox_retention` (default 14 days, never shorter than
`retention`, so a replay still finds every id it sends again) and the copies of deleted tasks a restore
reads once they are older than `retention`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import structlog
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from taskstream.domain.clock import Clock
from taskstream.domain.errors import DependencyUnavailable
from taskstream.messaging.bus import Bus, BusUnavailable, Message, PartialPublish
from taskstream.messaging.outbox import Pending
from taskstream.metrics import EVENTS_RELAYED, RELAY_PUBLISH_FAILURES
from taskstream.store.uow import UnitOfWork, UnitOfWorkFactory
from taskstream.tracing import NO_TRACER, TRACEPARENT, context_of, messaging_attributes, traceparent_of

log = structlog.get_logger(__name__)

RETENTION = timedelta(days=7)
INBOX_RETENTION = timedelta(days=14)
CLEANUP_BATCH = 1000
CLEANUP_MAX_BATCHES = 20
ERROR_AFTER_S = 1.0  # an outage this long (from the start of the first failed pass) is logged as an error
ERROR_EVERY_S = 60.0  # how often an ongoing outage is logged again at error level


class OutboxRelay:
    """Delivers outbox rows at least once, in id order (commit order per partition key); see the module doc.

    Wakes on `wake()` (an in-process commit, or a PostgreSQL NOTIFY relayed by the runtime) and polls every
    `poll_s` seconds as a backstop.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        bus: Bus,
        clock: Clock,
        *,
        batch_size: int = 200,
        poll_s: float = 1.0,
        cleanup_every_s: float = 30.0,
        retention: timedelta = RETENTION,
        inbox_retention: timedelta = INBOX_RETENTION,
        tracer: Tracer = NO_TRACER,
    ) -> None:
        self._uow = uow
        self._bus = bus
        self._tracer = tracer
        self._system = getattr(bus, "messaging_system", "unknown")
        self._clock = clock
        self._batch_size = batch_size
        self._poll_s = poll_s
        self._cleanup_every_s = cleanup_every_s
        self._retention = retention
        self._inbox_retention = max(inbox_retention, retention)
        self._wake = asyncio.Event()
        self._leads_by_lock = uow.profile.advisory_locks
        self.leader: bool | None = None  # None until the first pass; True while this relay holds the lock
        self.sent = 0

    def wake(self) -> None:
        """Ask the relay to look for new rows now."""
        self._wake.set()

    async def run(self) -> None:
        """Loop until cancelled: drain, then sleep until woken or `poll_s` passes; back off while failing."""
        failures = 0
        failing_since = 0.0
        next_error = 0.0
        next_cleanup = time.monotonic() + self._cleanup_every_s
        while True:
            self._wake.clear()
            attempt_started = time.monotonic()
            try:
                count = await self.drain_once()
            except (BusUnavailable, DependencyUnavailable, OSError) as error:
                failures += 1
                now = time.monotonic()
                if failures == 1:
                    failing_since = attempt_started
                if now - failing_since >= ERROR_AFTER_S and now >= next_error:
                    await self._log_outage(error, now - failing_since)
                    next_error = now + ERROR_EVERY_S
                else:
                    log.warning("relay cannot deliver yet", error=str(error), failures=failures)
                await asyncio.sleep(min(0.2 * 2**failures, 5.0))
                continue
            except Exception:
                failures += 1
                log.exception("relay pass failed; retrying", failures=failures)
                await asyncio.sleep(min(0.2 * 2**failures, 5.0))
                continue
            if next_error:
                log.info("relay delivers again", after_s=round(time.monotonic() - failing_since, 1))
            failures = 0
            next_error = 0.0
            if time.monotonic() >= next_cleanup:
                await self.cleanup()
                next_cleanup = time.monotonic() + self._cleanup_every_s
            if count >= self._batch_size:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_s)
            except TimeoutError:
                pass

    async def _log_outage(self, error: Exception, for_s: float) -> None:
        try:
            async with self._uow.reader() as uow:
                waiting, _ = await uow.outbox.backlog()
        except DependencyUnavailable:
            waiting = -1  # the database is what is down; the error says so
        log.error(
            "relay cannot publish; events wait in the outbox",
            error=str(error),
            for_s=round(for_s, 1),
            unsent_rows=waiting,
        )

    async def drain_once(self) -> int:
        """Publish one batch of unsent rows and mark the confirmed ones sent; returns how many were sent.

        Raises BusUnavailable (after marking the confirmed prefix) or DependencyUnavailable.
        """
        if self._leads_by_lock:
            return await self._drain_as_leader()
        return await self._drain_single()

    async def _drain_as_leader(self) -> int:
        failure: BusUnavailable | None = None
        confirmed = 0
        async with self._uow() as uow:
            leader = await uow.outbox.try_lead()
            self._note_leadership(leader)
            if not leader:
                return 0
            rows = await uow.outbox.unsent(self._batch_size)
            if not rows:
                return 0
            confirmed, failure = await self._publish(rows)
            if confirmed:
                await uow.outbox.mark_sent([row.id for row in rows[:confirmed]], self._clock.now())
                await uow.commit()
        return self._settle(rows, confirmed, failure)

    async def _drain_single(self) -> int:
        async with self._uow.reader() as uow:
            rows = await uow.outbox.unsent(self._batch_size)
        if not rows:
            return 0
        confirmed, failure = await self._publish(rows)
        if confirmed:
            async with self._uow() as uow:
                await uow.outbox.mark_sent([row.id for row in rows[:confirmed]], self._clock.now())
                await uow.commit()
        return self._settle(rows, confirmed, failure)

    async def _publish(self, rows: list[Pending]) -> tuple[int, BusUnavailable | None]:
        """Publish `rows` in order; returns (leading rows confirmed, the failure if any)."""
        failure: BusUnavailable | None
        messages = [Message(row.topic, row.key, row.payload.encode()) for row in rows]
        spans = [self._producer_span(row) for row in rows] if self._tracer is not NO_TRACER else []
        for message, span in zip(messages, spans, strict=False):
            # W3C trace context of the PRODUCER span: a Kafka record header; the Dapr bus makes it the
            # context of its call to daprd.
            message.headers[TRACEPARENT] = traceparent_of(span)
        confirmed, failure = len(messages), None
        try:
            await self._bus.publish(messages)
        except PartialPublish as error:
            confirmed, failure = error.confirmed, error
        except BusUnavailable as error:
            confirmed, failure = 0, error
        for n, span in enumerate(spans):
            if n >= confirmed:
                span.set_status(Status(StatusCode.ERROR, str(failure)))
            span.end()
        return confirmed, failure

    def _producer_span(self, row: Pending) -> Any:
        """A PRODUCER span `send <topic>` under the trace context stored in the row's CloudEvent."""
        event = json.loads(row.payload)
        attributes = messaging_attributes(self._system, row.topic, "send", message_id=event.get("id"))
        attributes["messaging.kafka.message.key"] = row.key
        return self._tracer.start_span(
            f"send {row.topic}",
            context=context_of(event.get("traceparent")),
            kind=SpanKind.PRODUCER,
            attributes=attributes,
        )

    def _settle(self, rows: list[Pending], confirmed: int, failure: BusUnavailable | None) -> int:
        self.sent += confirmed
        for row in rows[:confirmed]:
            EVENTS_RELAYED.labels(row.topic).inc()
        if failure is not None:
            for row in rows[confirmed:]:
                RELAY_PUBLISH_FAILURES.labels(row.topic).inc()
            raise failure
        return confirmed

    def _note_leadership(self, leader: bool) -> None:
        if leader != self.leader:
            log.info("relay leadership", leader=leader)
        self.leader = leader

    async def cleanup(self) -> int:
        """Delete outbox rows sent more than `retention` ago, inbox rows processed more than
        `inbox_retention` ago and copies of tasks deleted more than `retention` ago (what a restore
        reads), CLEANUP_BATCH per transaction; returns how many outbox rows went."""
        now = self._clock.now()

        def sent(uow: UnitOfWork) -> Awaitable[int]:
            return uow.outbox.delete_sent(older_than=now - self._retention, limit=CLEANUP_BATCH)

        def seen(uow: UnitOfWork) -> Awaitable[int]:
            return uow.inbox.forget_older(older_than=now - self._inbox_retention, limit=CLEANUP_BATCH)

        def trashed(uow: UnitOfWork) -> Awaitable[int]:
            return uow.trash.forget_older(older_than=now - self._retention, limit=CLEANUP_BATCH)

        deleted = await self._in_batches("outbox", sent)
        await self._in_batches("inbox", seen)
        await self._in_batches("deleted_tasks", trashed)
        return deleted

    async def _in_batches(self, table: str, delete: Callable[[UnitOfWork], Awaitable[int]]) -> int:
        deleted = 0
        try:
            for _ in range(CLEANUP_MAX_BATCHES):
                async with self._uow() as uow:
                    count = await delete(uow)
                    await uow.commit()
                deleted += count
                if count < CLEANUP_BATCH:
                    break
        except DependencyUnavailable as error:
            log.warning(f"{table} cleanup postponed", error=str(error))
        if deleted:
            log.info(f"{table} cleaned", deleted=deleted)
        return deleted

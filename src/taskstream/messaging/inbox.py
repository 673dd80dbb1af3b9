"""Consumer wrapper: parse the CloudEvent, deduplicate through the inbox, retry with backoff, dead-letter.

Rule: a malformed event is dead-lettered at once; a handler error is retried with exponential backoff and
dead-lettered after `max_attempts`; a DependencyUnavailable (database down) is raised to the transport, which
redelivers the same message later, so an outage never dead-letters anything.
"""

from __future__ import annotations

import asyncio
import enum
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from opentelemetry.trace import Tracer
from pydantic import ValidationError as PydanticValidationError

from taskstream.domain.clock import Clock
from taskstream.domain.errors import DependencyUnavailable
from taskstream.events.envelope import CloudEvent
from taskstream.events.topics import dead_letter_topic
from taskstream.messaging.bus import Bus, Message
from taskstream.messaging.repositories import AlreadyProcessed
from taskstream.metrics import CONSUMER_RETRIES, DEAD_LETTERS, EVENTS_CONSUMED
from taskstream.store.tables import DeadLetter
from taskstream.store.uow import UnitOfWork, UnitOfWorkFactory, is_connection_error
from taskstream.tracing import NO_TRACER, consuming

log = structlog.get_logger(__name__)

TransactionalHandler = Callable[[UnitOfWork, CloudEvent], Awaitable[None]]
# Loads what a batch's handlers will read, in one go; the result is held until the batch commits.
Prefetch = Callable[[UnitOfWork, list[CloudEvent]], Awaitable[object]]
PlainHandler = Callable[[CloudEvent], Awaitable[None]]


class Outcome(enum.Enum):
    """What became of one delivered message."""

    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead-lettered"  # after max attempts
    MALFORMED = "malformed"  # not a CloudEvent; dead-lettered at once


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts before dead-lettering; first backoff delay in seconds (doubled per attempt, ≤ 30 s)."""

    max_attempts: int = 5
    backoff_s: float = 0.2

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        return min(self.backoff_s * 2 ** (attempt - 1), 30.0)


class DeadLetters:
    """Records a given-up event in the dead_letters table and publishes it to `<topic>.dlq` with the error."""

    def __init__(self, uow: UnitOfWorkFactory, bus: Bus, clock: Clock) -> None:
        self._uow = uow
        self._bus = bus
        self._clock = clock

    async def send(self, message: Message, *, consumer: str, error: str, attempts: int) -> None:
        """Dead-letter `message`; raises DependencyUnavailable/BusUnavailable if neither store can take it."""
        log.warning(
            "event dead-lettered", topic=message.topic, consumer=consumer, error=error, attempts=attempts
        )
        async with self._uow() as uow:
            uow.dead_letters.add(
                DeadLetter(
                    topic=dead_letter_topic(message.topic),
                    consumer=consumer,
                    key=message.key,
                    payload=message.value.decode(errors="replace"),
                    error=error[:2000],
                    attempts=attempts,
                    recorded_at=self._clock.now(),
                )
            )
            await uow.commit()
        headers = dict(message.headers) | {
            "error": error[:500],
            "consumer": consumer,
            "attempts": str(attempts),
        }
        await self._bus.publish(
            [Message(dead_letter_topic(message.topic), message.key, message.value, headers)]
        )
        DEAD_LETTERS.labels(consumer, message.topic).inc()


class Consumer:
    """Bus handler running `handler` once per event id for consumer `name` (inbox in the same transaction)."""

    def __init__(
        self,
        name: str,
        handler: TransactionalHandler,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        dead_letters: DeadLetters,
        policy: RetryPolicy,
        acts_on: Callable[[CloudEvent], bool] | None = None,
        prefetch: Prefetch | None = None,
        tracer: Tracer = NO_TRACER,
        messaging_system: str = "unknown",
    ) -> None:
        self.name = name
        self._handler = handler
        self._tracer = tracer
        self._system = messaging_system
        self._prefetch = prefetch
        self._acts_on = acts_on  # the events the handler acts on (None: all); others are acknowledged without
        # a transaction or an inbox row
        self._uow = uow
        self._clock = clock
        self._dead_letters = dead_letters
        self._policy = policy

    async def __call__(self, message: Message) -> Outcome:
        """Process one message; returns once it took effect, was a duplicate, or was dead-lettered.

        Raises DependencyUnavailable when the database is down: the transport must deliver it again later.
        """
        outcome = await self._process(message)
        EVENTS_CONSUMED.labels(self.name, outcome.value).inc()
        return outcome

    async def _process(self, message: Message) -> Outcome:
        """Parse, deduplicate, run with retries; dead-letter what cannot be processed."""
        try:
            event = CloudEvent.from_json(message.value)
        except PydanticValidationError as error:
            await self._dead_letters.send(
                message, consumer=self.name, error=f"malformed event: {error}", attempts=0
            )
            return Outcome.MALFORMED
        if self._acts_on is not None and not self._acts_on(event):
            return Outcome.PROCESSED  # nothing to do, so nothing to record in the inbox
        with consuming(self._tracer, self._system, message.topic, self.name, event.id, event.traceparent):
            return await self._with_retries(message, event)

    async def _with_retries(self, message: Message, event: CloudEvent) -> Outcome:
        attempt = 0
        while True:
            attempt += 1
            try:
                return Outcome.PROCESSED if await self._once(event) else Outcome.DUPLICATE
            except AlreadyProcessed:
                return Outcome.DUPLICATE
            except DependencyUnavailable:
                raise
            except Exception as error:
                if is_connection_error(error):
                    raise DependencyUnavailable("database unreachable") from error
                log.warning(
                    "handler failed", consumer=self.name, event_id=event.id, attempt=attempt, error=str(error)
                )
                if attempt >= self._policy.max_attempts:
                    await self._dead_letters.send(
                        message,
                        consumer=self.name,
                        error=f"{type(error).__name__}: {error}",
                        attempts=attempt,
                    )
                    return Outcome.DEAD_LETTERED
                CONSUMER_RETRIES.labels(self.name).inc()
                await asyncio.sleep(self._policy.delay(attempt))

    async def handle_batch(self, messages: Sequence[Message]) -> list[Outcome]:
        """Process several messages of one partition in ONE transaction (inbox rows included).

        Same effects as calling the consumer once per message, for a fraction of the commits. If anything in
        the batch fails, the transaction is rolled back and each message goes the one-by-one way, with its
        retries and dead-lettering. Raises DependencyUnavailable like `__call__`.
        """
        events: list[CloudEvent] = []
        for message in messages:
            try:
                events.append(CloudEvent.from_json(message.value))
            except PydanticValidationError:
                return [await self(m) for m in messages]
        try:
            outcomes = await self._batch_once(events, messages[0].topic if messages else "")
        except DependencyUnavailable:
            raise
        except Exception as error:
            if is_connection_error(error):
                raise DependencyUnavailable("database unreachable") from error
            return [await self(m) for m in messages]
        for outcome in outcomes:
            EVENTS_CONSUMED.labels(self.name, outcome.value).inc()
        return outcomes

    async def _batch_once(self, events: list[CloudEvent], topic: str) -> list[Outcome]:
        relevant = [e for e in events if self._acts_on is None or self._acts_on(e)]
        ids = {e.id for e in relevant}
        if not relevant:
            return [Outcome.PROCESSED] * len(events)  # as one by one: no transaction, no inbox rows
        async with self._uow() as uow:
            done = await uow.inbox.seen_among(self.name, [e.id for e in relevant])
            fresh = [e for e in relevant if e.id not in done]
            # Referenced until commit: the session's identity map holds prefetched rows only weakly.
            held = await self._prefetch(uow, fresh) if self._prefetch is not None and fresh else None
            outcomes: list[Outcome] = []
            now = self._clock.now()
            # Rows the handlers add are written once, at commit, not before each handler's reads. A handler
            # that needed to read an earlier event's rows of the same batch fails at commit (unique keys) and
            # the batch goes the one-by-one way.
            with uow.session.no_autoflush:
                for event in events:
                    if event.id not in ids:
                        outcomes.append(Outcome.PROCESSED)
                    elif event.id in done:
                        outcomes.append(Outcome.DUPLICATE)
                    else:
                        done.add(event.id)
                        uow.inbox.record_unflushed(self.name, event.id, now)
                        with consuming(
                            self._tracer, self._system, topic, self.name, event.id, event.traceparent
                        ):
                            await self._handler(uow, event)
                        outcomes.append(Outcome.PROCESSED)
            if any(o is Outcome.PROCESSED for o in outcomes):
                await uow.commit()
            del held
            return outcomes

    async def _once(self, event: CloudEvent) -> bool:
        """Run the handler in one transaction with the inbox record; False when already processed."""
        async with self._uow() as uow:
            if await uow.inbox.seen(self.name, event.id):
                return False
            await uow.inbox.record(self.name, event.id, self._clock.now())
            await self._handler(uow, event)
            await uow.commit()
            return True


class EphemeralConsumer:
    """Bus handler without a database effect (realtime push): repeats dropped by a bounded memory of ids."""

    def __init__(
        self,
        name: str,
        handler: PlainHandler,
        *,
        remember: int = 10_000,
        tracer: Tracer = NO_TRACER,
        messaging_system: str = "unknown",
    ) -> None:
        self.name = name
        self._handler = handler
        self._tracer = tracer
        self._system = messaging_system
        self._seen: OrderedDict[str, datetime | None] = OrderedDict()
        self._remember = remember

    async def __call__(self, message: Message) -> Outcome:
        """Hand a new event to the handler; malformed events and repeats are dropped (nothing to undo)."""
        try:
            event = CloudEvent.from_json(message.value)
        except PydanticValidationError:
            log.warning("malformed event dropped", consumer=self.name, topic=message.topic)
            return Outcome.MALFORMED
        if event.id in self._seen:
            return Outcome.DUPLICATE
        self._seen[event.id] = None
        if len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        try:
            with consuming(self._tracer, self._system, message.topic, self.name, event.id, event.traceparent):
                await self._handler(event)
        except Exception:
            log.exception("push failed", consumer=self.name, event_id=event.id)
        return Outcome.PROCESSED

"""The Kafka bus: publishing with acks=all, one consumer per subscription, and the watchdog."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiokafka.errors import KafkaError

from taskstream.messaging.bus import BusHealth, BusUnavailable, Handler, Message
from taskstream.metrics import KAFKA_CLUSTER_CHANGES
from taskstream.transports.kafka.clients import Clients, describe
from taskstream.transports.kafka.config import KafkaConfig, KafkaSecurity, sleep_unless
from taskstream.transports.kafka.consuming import Subscription

log = structlog.get_logger(__name__)

# With background_connect, how long start() waits for the broker before going on without it: the process
# serves (and answers readiness, and honours SIGTERM) while it keeps connecting.
_START_WAIT_S = 5.0


@dataclass
class _BrokerState:
    """What the watchdog last learned about the broker."""

    reachable: bool | None = None  # None: not contacted yet
    since: float = field(default_factory=time.monotonic)  # when `reachable` last changed
    error: str | None = None
    cluster_id: str | None = None
    cluster_changes: int = 0
    warnings: deque[str] = field(default_factory=lambda: deque(maxlen=5))  # cluster changes, lost topics


class KafkaBus:
    """Bus over any Kafka-protocol broker; see the package docstring for the delivery and health rules.

    `options` are the other fields of KafkaConfig (partitions, timeouts in seconds, …); an unknown one is a
    TypeError. background_connect: when the broker cannot be reached within connect_timeout_s at
    start(), log it and keep connecting in the background instead of raising (health() says so; publish()
    raises BusUnavailable until connected). Services use it, so a broker outage never keeps them from
    starting.
    """

    messaging_system = "kafka"  # messaging.system of the spans that publish and consume

    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str,
        security: KafkaSecurity | None = None,
        background_connect: bool = False,
        **options: Any,
    ) -> None:
        self._config = KafkaConfig(
            bootstrap, client_id, client_options=(security or KafkaSecurity()).client_options(), **options
        )
        self._background_connect = background_connect
        self._clients = Clients(self._config)
        self._subscriptions: dict[tuple[str, str | None], Subscription] = {}
        self._broadcasts: list[Subscription] = []
        self._stopping = asyncio.Event()
        self._started = False
        self._background: list[asyncio.Task[None]] = []  # the watchdog, or the connector until connected
        self._state = _BrokerState()
        self._replace_producer_pending = False  # the cluster changed: the producer's id means nothing there
        self._rewind_pending: set[str] = set()  # topics whose consumers must start from the earliest offset

    @property
    def _bootstrap(self) -> str:
        return self._config.bootstrap

    def subscribe(self, topic: str, *, group: str | None, handler: Handler) -> None:
        """Register `handler` before start(); group=None is a broadcast subscriber starting at the log end."""
        if self._started:
            raise RuntimeError("subscribe() must be called before start()")
        if group is None:
            self._broadcasts.append(Subscription(topic, None, [handler]))
            return
        existing = self._subscriptions.get((topic, group))
        if existing is None:
            self._subscriptions[(topic, group)] = Subscription(topic, group, [handler])
        else:
            existing.handlers.append(handler)

    async def start(self) -> None:
        """Create topics, start the producer, one consumer per subscription and the watchdog.

        Raises BusUnavailable when the broker cannot be reached within connect_timeout_s seconds, unless
        background_connect is set.
        """
        if self._started:
            raise RuntimeError("the bus is already started")
        self._started = True
        self._stopping.clear()
        self._state.since = time.monotonic()
        wait_s = min(self._config.connect_timeout_s, _START_WAIT_S) if self._background_connect else None
        try:
            await self._connect_within_timeout(wait_s)
        except BusUnavailable as error:
            if not self._background_connect:
                self._started = False
                raise
            self._went_down(error.__cause__ or error)
            self._background.append(asyncio.create_task(self._connect_in_background(), name="kafka-connect"))
            return
        self._run_connected()

    async def create_topics(self, topics: Sequence[str]) -> None:
        """Create `topics` and their dead-letter topics where missing, then disconnect (no consumer starts).

        For transports that do not create topics themselves (daprd's Kafka component); raises BusUnavailable
        when the broker cannot be reached within connect_timeout_s seconds.
        """
        try:
            async with asyncio.timeout(self._config.connect_timeout_s):
                await self._clients.connect(topics)
        except (KafkaError, TimeoutError, OSError) as error:
            raise BusUnavailable(f"cannot create topics on {self._bootstrap}: {error!r}") from error
        finally:
            await self._clients.close(())

    async def stop(self) -> None:
        """Stop fetching, let in-flight handlers finish and commit (up to shutdown_timeout_s), disconnect.

        Returns within shutdown_timeout_s plus a few seconds to close the clients, whatever the broker does.
        """
        self._stopping.set()
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._background.clear()
        tasks = [s.task for s in self._all_subscriptions() if s.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self._config.shutdown_timeout_s)
            for task in pending:
                log.warning("consumer did not drain in time; cancelling", task=task.get_name())
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for subscription in self._all_subscriptions():
            subscription.task = None
        await self._close_clients()
        self._started = False
        log.info("kafka bus stopped", bootstrap=self._bootstrap, client_id=self._config.client_id)

    async def publish(self, messages: Sequence[Message]) -> None:
        """Send in order (key = partition key, headers as UTF-8) and wait for acks=all on every message.

        Raises BusUnavailable on any Kafka error, before the bus is connected, or after request_timeout_s
        seconds; none may be assumed sent except the PartialPublish's confirmed prefix.
        """
        if not messages:
            return
        if not self._started:
            raise RuntimeError("publish() before start()")
        producer = self._clients.producer
        if producer is None:
            raise BusUnavailable(f"not connected to Kafka at {self._bootstrap} yet: {self._state.error}")
        await self._clients.publish(producer, messages)

    def health(self) -> BusHealth:
        """Whether the broker answered the last probe, since when, and the last cluster change (if any)."""
        state = self._state
        detail: dict[str, Any] = {"transport": "kafka", "bootstrap": self._bootstrap}
        for_s = round(time.monotonic() - state.since, 1)
        if state.reachable:
            detail.update(status="ok", cluster_id=state.cluster_id)
        elif state.reachable is None:
            detail.update(status="connecting", for_s=for_s)
        else:
            detail.update(status="unreachable", for_s=for_s, error=state.error)
        if state.warnings:
            detail["warnings"] = list(state.warnings)
        reachable = bool(state.reachable)
        message = f"Kafka at {self._bootstrap} is reachable"
        if not reachable:
            message = (
                f"Kafka at {self._bootstrap} is {detail['status']} ({for_s} s): {state.error or 'no answer'}"
            )
        return BusHealth(ok=reachable, message=message, detail=detail)

    async def lag(self) -> dict[tuple[str, str], int]:
        """Messages on the broker not yet handled and committed, per (group, topic), over this process's
        partitions (see Subscription.lag). A consumer stuck in a handler shows its backlog growing."""
        lags: dict[tuple[str, str], int] = {}
        for (topic, group), subscription in self._subscriptions.items():
            lag = await subscription.lag(self._config.request_timeout_s)
            if lag is not None and group is not None:
                lags[(group, topic)] = lag
        return lags

    def assigned_partitions(self, topic: str, *, group: str | None) -> frozenset[int]:
        """Partitions of `topic` this bus consumes now for `group` (all for broadcast); for readiness."""
        subscriptions = self._broadcasts if group is None else [self._subscriptions.get((topic, group))]
        return frozenset(
            tp.partition
            for s in subscriptions
            if s is not None and s.topic == topic and s.consumer is not None
            for tp in s.consumer.assignment()
        )

    def _all_subscriptions(self) -> list[Subscription]:
        return [*self._subscriptions.values(), *self._broadcasts]

    # ------------------------------------------------------------------ connecting

    async def _connect_within_timeout(self, timeout_s: float | None = None) -> None:
        self._clients.last_error = None
        try:
            async with asyncio.timeout(timeout_s or self._config.connect_timeout_s):
                await self._connect()
        except (KafkaError, OSError, TimeoutError) as exc:
            await self._close_clients()
            last = self._clients.last_error
            cause = exc if last is None or not isinstance(exc, TimeoutError) else last
            raise BusUnavailable(f"Kafka at {self._bootstrap} is not available: {describe(cause)}") from cause

    async def _connect(self) -> None:
        cluster_id = await self._clients.connect(s.topic for s in self._all_subscriptions())
        producer = self._clients.producer
        assert producer is not None
        broadcast_partitions = [sorted(await producer.partitions_for(s.topic)) for s in self._broadcasts]
        # Group joins take a while (the coordinator waits for other members), so they run side by side.
        await asyncio.gather(
            *(s.start_consumer(self._config) for s in self._subscriptions.values()),
            *(
                s.start_consumer(self._config, p)
                for s, p in zip(self._broadcasts, broadcast_partitions, strict=True)
            ),
        )
        self._came_up(cluster_id)

    async def _connect_in_background(self) -> None:
        delay = self._config.retry_backoff_s
        while not self._stopping.is_set():
            await sleep_unless(self._stopping, delay)
            if self._stopping.is_set():
                return
            try:
                await self._connect_within_timeout()
            except BusUnavailable as error:
                self._went_down(error.__cause__ or error)
                delay = min(delay * 2, self._config.max_retry_backoff_s)
                continue
            self._run_connected()
            return

    def _run_connected(self) -> None:
        for subscription in self._all_subscriptions():
            subscription.task = asyncio.create_task(
                subscription.consume(self._stopping, self._config),
                name=f"kafka-consumer:{subscription.topic}:{subscription.group}",
            )
        self._background = [asyncio.create_task(self._watch(), name="kafka-watchdog")]
        log.info(
            "kafka bus started",
            bootstrap=self._bootstrap,
            client_id=self._config.client_id,
            subscriptions=len(self._all_subscriptions()),
            cluster_id=self._state.cluster_id,
        )

    async def _close_clients(self) -> None:
        await self._clients.close(s.consumer for s in self._all_subscriptions() if s.consumer is not None)
        for subscription in self._all_subscriptions():
            subscription.consumer = None

    # ------------------------------------------------------------------ the watchdog

    async def _watch(self) -> None:
        """Probe the broker until stop(); see the module docstring for what each finding does."""
        while not self._stopping.is_set():
            await sleep_unless(self._stopping, self._config.health_interval_s)
            if self._stopping.is_set():
                return
            try:
                await self._probe()
            except Exception:
                log.exception("kafka watchdog probe failed unexpectedly", bootstrap=self._bootstrap)

    async def _probe(self) -> None:
        admin = self._clients.admin
        assert admin is not None
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._config.request_timeout_s):
                info = await admin.describe_cluster()
                present = set(await admin.list_topics())
        except (KafkaError, OSError, TimeoutError) as error:
            self._went_down(error, since=started)
            return
        cluster_id = str(info.get("cluster_id"))
        state = self._state
        async with self._clients.topics_lock:
            expected = self._clients.known_topics | {s.topic for s in self._all_subscriptions()}
            gone = sorted(expected - present)
            self._clients.known_topics -= set(gone)
        if state.cluster_id is not None and cluster_id != state.cluster_id:
            KAFKA_CLUSTER_CHANGES.inc()
            state.cluster_changes += 1
            state.warnings.append(
                f"the Kafka cluster at {self._bootstrap} changed from {state.cluster_id} to {cluster_id} at "
                f"{_utc_now()}: events the old cluster had not delivered are lost to the bus; replay them "
                "with `taskstream outbox replay --since <time>`"
            )
            log.error(
                "kafka cluster changed: the broker's log was wiped or replaced",
                bootstrap=self._bootstrap,
                old_cluster_id=state.cluster_id,
                new_cluster_id=cluster_id,
                hint="taskstream outbox replay --since <a time before the consumers fell behind>",
            )
            state.cluster_id = cluster_id
            self._replace_producer_pending = True
            self._rewind_pending.update(s.topic for s in self._all_subscriptions())
        elif gone:
            state.warnings.append(
                f"topics {', '.join(gone)} vanished from Kafka at {self._bootstrap} and were created again "
                f"at {_utc_now()}; replay what they held with `taskstream outbox replay --since <time>`"
            )
            log.error("kafka topics are gone; creating them again", bootstrap=self._bootstrap, topics=gone)
            self._rewind_pending.update(gone)
        try:
            if self._replace_producer_pending and self._clients.producer is not None:
                await self._clients.replace_producer()
                self._replace_producer_pending = False
            await self._clients.ensure_topics(expected)
            for subscription in self._all_subscriptions():
                if subscription.topic in self._rewind_pending:
                    await subscription.rewind(self._config.request_timeout_s)
            self._rewind_pending.clear()
        except (KafkaError, OSError, TimeoutError) as error:
            self._went_down(error)  # what is pending is done on the next probe that reaches the broker
            return
        self._came_up(cluster_id)

    def _went_down(self, error: BaseException, *, since: float | None = None) -> None:
        """Record an outage; `since` is when the failed attempt began (default: now). Before the first
        connection the outage counts from start()."""
        text = describe(error)
        self._state.error = text
        if self._state.reachable is not False:
            log.error(
                "kafka broker unreachable; consumption paused, publishing fails until it answers",
                bootstrap=self._bootstrap,
                error=text,
            )
            if self._state.reachable is True:
                self._state.since = since if since is not None else time.monotonic()
            self._state.reachable = False
        for subscription in self._all_subscriptions():
            if subscription.consumer is not None:
                subscription.consumer.pause(*subscription.consumer.assignment())

    def _came_up(self, cluster_id: str) -> None:
        if self._state.reachable is False:
            log.info(
                "kafka broker reachable again",
                bootstrap=self._bootstrap,
                after_s=round(time.monotonic() - self._state.since, 1),
            )
        if self._state.reachable is not True:
            self._state.since = time.monotonic()
        self._state.reachable = True
        self._state.error = None
        self._state.cluster_id = cluster_id
        for subscription in self._all_subscriptions():
            if subscription.consumer is not None and subscription.consumer.paused():
                subscription.consumer.resume(*subscription.consumer.paused())


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

"""Kafka transport for the bus (aiokafka): acks=all producer keyed by user id, commit after the handler.

Consumers commit one message at a time, right after its handlers returned, so a crash repeats at most the
message that was in flight. A handler that raises is not skipped: the consumer seeks back to it and tries
again after a backoff (growing up to max_retry_backoff_s) until it succeeds or stop() is called; retry
limits and dead-lettering live above this adapter. Ordering per partition key holds even without the
idempotent producer, because aiokafka keeps at most one request in flight per partition.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import CommitFailedError, KafkaError, TopicAlreadyExistsError, for_code
from aiokafka.structs import OffsetAndMetadata

from taskstream.bus.base import BusUnavailable, Handler, Message, PartialPublish
from taskstream.events.topics import dead_letter_topic

log = structlog.get_logger(__name__)

_POLL_MS = 200  # how long one fetch waits for records; bounds how fast stop() is noticed
_CONNECT_RETRY_S = 0.5


class _Outcome(enum.Enum):
    DONE = "done"
    FAILED = "failed"  # handler raised; the partition was rewound to the message
    STALE = "stale"  # a rebalance happened since the batch was fetched; drop the batch
    STOPPING = "stopping"


@dataclass(eq=False)
class _Subscription:
    topic: str
    group: str | None
    handlers: list[Handler]
    consumer: AIOKafkaConsumer | None = None
    task: asyncio.Task[None] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # held while a message is handled and committed
    epoch: int = 0  # bumped on each revocation; records fetched under an older epoch are refetched


class _RevocationListener(ConsumerRebalanceListener):
    """Lets the in-flight message finish and commit before the group takes partitions away."""

    def __init__(self, subscription: _Subscription) -> None:
        self._subscription = subscription

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self._subscription.lock:
            self._subscription.epoch += 1
        log.info(
            "partitions revoked",
            topic=self._subscription.topic,
            group=self._subscription.group,
            partitions=sorted(tp.partition for tp in revoked),
        )

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info(
            "partitions assigned",
            topic=self._subscription.topic,
            group=self._subscription.group,
            partitions=sorted(tp.partition for tp in assigned),
        )


class KafkaBus:
    """Bus over any Kafka-protocol broker; see the module docstring for the delivery rules."""

    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str,
        partitions: int = 6,
        replication_factor: int = 1,
        idempotence: bool = True,
        request_timeout_s: float = 10.0,
        connect_timeout_s: float = 20.0,
        session_timeout_s: float = 10.0,
        linger_ms: int = 5,
        fetch_max_wait_ms: int = 10,
        retry_backoff_s: float = 0.5,
        max_retry_backoff_s: float = 10.0,
        shutdown_timeout_s: float = 30.0,
    ) -> None:
        self._bootstrap = bootstrap
        self._client_id = client_id
        self._partitions = partitions
        self._replication_factor = replication_factor
        self._idempotence = idempotence
        self._request_timeout_s = request_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._session_timeout_s = session_timeout_s
        self._linger_ms = linger_ms
        # How long a fetch may wait on the broker for data: bounds end-to-end latency when traffic is light.
        self._fetch_max_wait_ms = fetch_max_wait_ms
        self._retry_backoff_s = retry_backoff_s
        self._max_retry_backoff_s = max_retry_backoff_s
        self._shutdown_timeout_s = shutdown_timeout_s
        self._subscriptions: dict[tuple[str, str | None], _Subscription] = {}
        self._broadcasts: list[_Subscription] = []
        self._producer: AIOKafkaProducer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._known_topics: set[str] = set()
        self._topics_lock = asyncio.Lock()
        self._stopping = asyncio.Event()

    def subscribe(self, topic: str, *, group: str | None, handler: Handler) -> None:
        """Register `handler` before start(); group=None is a broadcast subscriber starting at the log end."""
        if self._producer is not None:
            raise RuntimeError("subscribe() must be called before start()")
        if group is None:
            self._broadcasts.append(_Subscription(topic, None, [handler]))
            return
        existing = self._subscriptions.get((topic, group))
        if existing is None:
            self._subscriptions[(topic, group)] = _Subscription(topic, group, [handler])
        else:
            existing.handlers.append(handler)

    async def start(self) -> None:
        """Create topics, start the producer and one consumer per subscription.

        Raises BusUnavailable when the broker cannot be reached within connect_timeout_s seconds.
        """
        if self._producer is not None:
            raise RuntimeError("the bus is already started")
        self._stopping.clear()
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                await self._connect()
        except (KafkaError, OSError, TimeoutError) as exc:
            await self._close_clients()
            raise BusUnavailable(f"Kafka at {self._bootstrap} is not available: {exc!r}") from exc
        for subscription in self._all_subscriptions():
            subscription.task = asyncio.create_task(
                self._consume(subscription), name=f"kafka-consumer:{subscription.topic}:{subscription.group}"
            )
        log.info(
            "kafka bus started",
            bootstrap=self._bootstrap,
            client_id=self._client_id,
            subscriptions=len(self._all_subscriptions()),
        )

    async def stop(self) -> None:
        """Stop fetching, let in-flight handlers finish and commit (up to shutdown_timeout_s), disconnect."""
        self._stopping.set()
        tasks = [s.task for s in self._all_subscriptions() if s.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self._shutdown_timeout_s)
            for task in pending:
                log.warning("consumer did not drain in time; cancelling", task=task.get_name())
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for subscription in self._all_subscriptions():
            subscription.task = None
        await self._close_clients()
        log.info("kafka bus stopped", bootstrap=self._bootstrap, client_id=self._client_id)

    async def publish(self, messages: Sequence[Message]) -> None:
        """Send in order (key = partition key, headers as UTF-8) and wait for acks=all on every message.

        Raises BusUnavailable on any Kafka error or after request_timeout_s seconds; none may be assumed sent.
        """
        if not messages:
            return
        producer = self._producer
        if producer is None:
            raise RuntimeError("publish() before start()")
        futures: list[asyncio.Future[Any]] = []
        try:
            async with asyncio.timeout(self._request_timeout_s):
                await self._ensure_topics(m.topic for m in messages)
                for m in messages:
                    future = await producer.send(m.topic, m.value, key=m.key.encode(), headers=_headers(m))
                    future.add_done_callback(_retrieve_exception)
                    futures.append(future)
                # asyncio.wait does not cancel the send futures on timeout; aiokafka still owns them.
                await asyncio.wait(futures)
                for future in futures:
                    future.result()
        except (KafkaError, TimeoutError) as exc:
            confirmed = _confirmed_prefix(futures)
            raise PartialPublish(
                f"publish to {self._bootstrap} failed after {confirmed} of {len(messages)} messages: {exc!r}",
                confirmed=confirmed,
            ) from exc

    def assigned_partitions(self, topic: str, *, group: str | None) -> frozenset[int]:
        """Partitions of `topic` this bus consumes now for `group` (all for broadcast); for readiness."""
        subscriptions = self._broadcasts if group is None else [self._subscriptions.get((topic, group))]
        return frozenset(
            tp.partition
            for s in subscriptions
            if s is not None and s.topic == topic and s.consumer is not None
            for tp in s.consumer.assignment()
        )

    def _all_subscriptions(self) -> list[_Subscription]:
        return [*self._subscriptions.values(), *self._broadcasts]

    async def _connect(self) -> None:
        self._admin = AIOKafkaAdminClient(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            request_timeout_ms=int(self._request_timeout_s * 1000),
        )
        await _retry_until_reachable(self._admin.start, self._bootstrap)
        await self._ensure_topics(s.topic for s in self._all_subscriptions())
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            acks="all",
            enable_idempotence=self._idempotence,
            linger_ms=self._linger_ms,
            request_timeout_ms=int(self._request_timeout_s * 1000),
        )
        try:
            await self._producer.start()
        except KafkaError as exc:
            if self._idempotence and not exc.retriable:
                raise KafkaError(
                    f"idempotent producer refused ({exc!r}); if the broker lacks InitProducerId (Tansu), "
                    "turn idempotence off"
                ) from exc
            raise
        # Group joins take a while (the coordinator waits for other members), so they run side by side.
        await asyncio.gather(
            *(self._start_group_consumer(s) for s in self._subscriptions.values()),
            *(self._start_broadcast_consumer(s) for s in self._broadcasts),
        )

    async def _ensure_topics(self, topics: Iterable[str]) -> None:
        """Create each topic and its dead-letter topic once, with the configured partition count."""
        wanted = {name for topic in topics for name in (topic, dead_letter_topic(topic))}
        async with self._topics_lock:
            missing = sorted(wanted - self._known_topics)
            if not missing:
                return
            assert self._admin is not None
            new = [NewTopic(name, self._partitions, self._replication_factor) for name in missing]
            try:
                response = await self._admin.create_topics(new)
            except TopicAlreadyExistsError:
                response = None
            for topic_error in getattr(response, "topic_errors", ()):
                code = topic_error[1]
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise for_code(code)(f"creating topic {topic_error[0]!r}")
            self._known_topics.update(missing)
            log.info("topics ensured", topics=missing, partitions=self._partitions)

    async def _start_group_consumer(self, subscription: _Subscription) -> None:
        session_ms = int(self._session_timeout_s * 1000)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            group_id=subscription.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self._fetch_max_wait_ms,
            session_timeout_ms=session_ms,
            heartbeat_interval_ms=max(session_ms // 3, 100),
        )
        consumer.subscribe([subscription.topic], listener=_RevocationListener(subscription))
        subscription.consumer = consumer
        await consumer.start()

    async def _start_broadcast_consumer(self, subscription: _Subscription) -> None:
        assert self._producer is not None
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            fetch_max_wait_ms=self._fetch_max_wait_ms,
        )
        subscription.consumer = consumer
        await consumer.start()
        partitions = await self._producer.partitions_for(subscription.topic)
        assigned = [TopicPartition(subscription.topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        if not await consumer.seek_to_end(*assigned):
            raise KafkaError(f"could not find the end of {subscription.topic!r}")
        for tp in assigned:
            await consumer.position(tp)  # pin "now": later messages are the ones this replica sees

    async def _consume(self, subscription: _Subscription) -> None:
        """Fetch and handle until stop(); never lets an exception end the loop."""
        consumer = subscription.consumer
        assert consumer is not None
        backoff = self._retry_backoff_s
        while not self._stopping.is_set():
            try:
                batch = await consumer.getmany(timeout_ms=_POLL_MS)
                failed = await self._handle_batch(subscription, batch)
            except Exception:
                log.exception(
                    "consumer loop error; retrying", topic=subscription.topic, group=subscription.group
                )
                failed = True
            if failed:
                await self._sleep_unless_stopping(backoff)
                backoff = min(backoff * 2, self._max_retry_backoff_s)
            else:
                backoff = self._retry_backoff_s

    async def _handle_batch(
        self, subscription: _Subscription, batch: dict[TopicPartition, list[ConsumerRecord[Any, Any]]]
    ) -> bool:
        """Handle records partition by partition; True if a handler failed (its partition was rewound)."""
        epoch = subscription.epoch
        failed = False
        for tp, records in batch.items():
            for record in records:
                outcome = await self._handle_record(subscription, tp, record, epoch)
                if outcome is _Outcome.FAILED:
                    failed = True
                    break  # later records of this partition wait for the retry
                if outcome in (_Outcome.STALE, _Outcome.STOPPING):
                    return failed
        return failed

    async def _handle_record(
        self, subscription: _Subscription, tp: TopicPartition, record: ConsumerRecord[Any, Any], epoch: int
    ) -> _Outcome:
        consumer = subscription.consumer
        assert consumer is not None
        async with subscription.lock:
            if self._stopping.is_set():
                return _Outcome.STOPPING
            if subscription.epoch != epoch:
                return _Outcome.STALE
            message = _to_message(record)
            try:
                for handler in subscription.handlers:
                    await handler(message)
            except Exception:
                log.warning(
                    "handler failed; will retry the message",
                    topic=tp.topic,
                    partition=tp.partition,
                    offset=record.offset,
                    group=subscription.group,
                    exc_info=True,
                )
                consumer.seek(tp, record.offset)
                return _Outcome.FAILED
            if subscription.group is not None:
                await self._commit(subscription, tp, record.offset + 1)
            return _Outcome.DONE

    async def _commit(self, subscription: _Subscription, tp: TopicPartition, next_offset: int) -> None:
        consumer = subscription.consumer
        assert consumer is not None
        try:
            await consumer.commit({tp: OffsetAndMetadata(next_offset, "")})
        except CommitFailedError:
            log.info(
                "commit lost to a rebalance; the new owner redelivers", topic=tp.topic, partition=tp.partition
            )
            subscription.epoch += 1
        except KafkaError as exc:
            # The next successful commit on this partition covers this one; until then a restart redelivers.
            log.warning("offset commit failed", topic=tp.topic, partition=tp.partition, error=repr(exc))

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _close_clients(self) -> None:
        clients: list[Any] = [s.consumer for s in self._all_subscriptions() if s.consumer is not None]
        clients.append(self._producer)
        for client in clients:
            if client is not None:
                await self._bounded(client.stop(), "client stop")
        if self._admin is not None:
            await self._bounded(self._admin.close(), "admin close")
        for subscription in self._all_subscriptions():
            subscription.consumer = None
        self._producer = None
        self._admin = None
        self._known_topics.clear()

    async def _bounded(self, closing: Any, what: str) -> None:
        try:
            await asyncio.wait_for(closing, timeout=self._request_timeout_s)
        except (KafkaError, OSError, TimeoutError) as exc:
            log.warning("kafka client did not close cleanly", step=what, error=repr(exc))


async def _retry_until_reachable(start: Any, bootstrap: str) -> None:
    """Call `start` until it connects; the caller bounds the total wait."""
    while True:
        try:
            await start()
            return
        except (KafkaError, OSError) as exc:
            log.info("broker not reachable yet; retrying", bootstrap=bootstrap, error=repr(exc))
            await asyncio.sleep(_CONNECT_RETRY_S)


def _headers(message: Message) -> list[tuple[str, bytes]]:
    return [(name, value.encode()) for name, value in message.headers.items()]


def _to_message(record: ConsumerRecord[Any, Any]) -> Message:
    key = record.key.decode("utf-8", "replace") if record.key is not None else ""
    headers = {name: (value or b"").decode("utf-8", "replace") for name, value in record.headers}
    return Message(topic=record.topic, key=key, value=record.value or b"", headers=headers)


def _confirmed_prefix(futures: Sequence[asyncio.Future[Any]]) -> int:
    """How many leading send futures completed without an error (acked by the broker)."""
    for index, future in enumerate(futures):
        if not future.done() or future.cancelled() or future.exception() is not None:
            return index
    return len(futures)


def _retrieve_exception(future: asyncio.Future[Any]) -> None:
    """Mark a send future's error as seen, so a timed-out publish leaves no 'never retrieved' warning."""
    if not future.cancelled():
        future.exception()

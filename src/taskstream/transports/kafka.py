"""Kafka transport for the bus (aiokafka): idempotent acks=all producer keyed by user id; commit when handled.

Consumers commit one message at a time, right after its handlers returned, so a crash repeats at most the
message that was in flight. A handler that raises is not skipped: the consumer seeks back to it and tries
again after a backoff (growing up to max_retry_backoff_s) until it succeeds or stop() is called; retry
limits and dead-lettering live above this adapter. Order per partition key holds: the idempotent producer
lets the broker drop a retried batch it already has, and aiokafka keeps one request in flight per partition.

A watchdog probes the broker every health_interval_s seconds (cluster metadata and the topic list):
- unreachable: logged at error level once per outage, reported by health(); consumption pauses until the
  broker answers again, so no fetch runs against a broker whose identity is unknown;
- a different cluster id (the cluster was wiped or replaced) or a topic gone: logged at error level, the
  topics are created again and every consumer of them resumes from the earliest offset. What the old log
  held and no consumer had read is lost to the bus; the outbox keeps sent rows for that case
  (`taskstream outbox replay`).
"""

from __future__ import annotations

import asyncio
import enum
import os
import ssl
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.conn import create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    CommitFailedError,
    InvalidProducerEpoch,
    KafkaError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    SaslAuthenticationFailed,
    TopicAlreadyExistsError,
    UnknownProducerId,
    for_code,
)
from aiokafka.helpers import create_ssl_context
from aiokafka.structs import OffsetAndMetadata

from taskstream.events.topics import with_dead_letter_topic
from taskstream.messaging.bus import BusHealth, BusUnavailable, Handler, Message, PartialPublish
from taskstream.metrics import KAFKA_CLUSTER_CHANGES

log = structlog.get_logger(__name__)

_POLL_MS = 200  # how long one fetch waits for records; bounds how fast stop() is noticed
_CONNECT_RETRY_S = 0.5
_CLOSE_TIMEOUT_S = 3.0  # for closing the clients at stop(), after the handlers drained
_METADATA_MAX_AGE_MS = 5000
# With background_connect, how long start() waits for the broker before going on without it: the process
# serves (and answers readiness, and honours SIGTERM) while it keeps connecting.
_START_WAIT_S = 5.0
# A producer that meets these cannot go on (its id or sequence numbers mean nothing to the broker, as with a
# wiped cluster that handed the same producer id out again): it is replaced by a new one for the next publish.
_FATAL_TO_PRODUCER = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch, ProducerFenced)

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True)
class KafkaSecurity:
    """How every client of the bus authenticates and encrypts (managed Kafka needs SASL over TLS).

    protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL. With SSL/SASL_SSL the broker's certificate is
    checked against `cafile` (PEM; default: the system's trusted CAs) and its host name; `certfile` (PEM,
    with `keyfile` unless the key is in the same file) is the client certificate for brokers that ask for
    one. With SASL_*: `mechanism` PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 and `username`/`password`.
    Raises ValueError naming the setting when a combination is incomplete.
    """

    protocol: str = "PLAINTEXT"
    mechanism: str | None = None
    username: str | None = None
    password: str | None = None
    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None

    def __post_init__(self) -> None:
        if self.protocol not in SECURITY_PROTOCOLS:
            raise ValueError(f"kafka_security_protocol: one of {', '.join(SECURITY_PROTOCOLS)}")
        if self.protocol.startswith("SASL_"):
            if self.mechanism not in SASL_MECHANISMS:
                raise ValueError(f"kafka_sasl_mechanism: one of {', '.join(SASL_MECHANISMS)} with SASL")
            if not self.username or self.password is None:
                raise ValueError("kafka_sasl_username and kafka_sasl_password are required with SASL")
        if self.keyfile and not self.certfile:
            raise ValueError("kafka_ssl_keyfile needs kafka_ssl_certfile")
        for name, path in (("cafile", self.cafile), ("certfile", self.certfile), ("keyfile", self.keyfile)):
            if path is not None and not os.path.isfile(path):
                raise ValueError(f"kafka_ssl_{name}: no readable file at {path}")

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for every aiokafka client (producer, consumers, admin).

        Raises ValueError naming the setting when a certificate or key file is not valid PEM.
        """
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.protocol in ("SSL", "SASL_SSL"):
            try:
                options["ssl_context"] = create_ssl_context(
                    cafile=self.cafile, certfile=self.certfile, keyfile=self.keyfile
                )
            except (ssl.SSLError, OSError) as error:
                raise ValueError(
                    f"kafka_ssl_cafile, kafka_ssl_certfile or kafka_ssl_keyfile is not valid PEM: {error}"
                ) from error
        if self.protocol.startswith("SASL_"):
            options.update(
                sasl_mechanism=self.mechanism,
                sasl_plain_username=self.username,
                sasl_plain_password=self.password,
            )
        return options


class _Outcome(enum.Enum):
    DONE = "done"
    FAILED = "failed"  # handler raised; the partition was rewound to the message
    STALE = "stale"  # a rebalance or rewind happened since the batch was fetched; drop the batch
    STOPPING = "stopping"


@dataclass(eq=False)
class _Subscription:
    topic: str
    group: str | None
    handlers: list[Handler]
    consumer: AIOKafkaConsumer | None = None
    task: asyncio.Task[None] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # held while a message is handled and committed
    epoch: int = 0  # bumped on each revocation or rewind; records fetched under an older epoch are refetched
    committed: dict[TopicPartition, int] = field(default_factory=dict)  # next offset, as committed by us


@dataclass
class _BrokerState:
    """What the watchdog last learned about the broker."""

    reachable: bool | None = None  # None: not contacted yet
    since: float = field(default_factory=time.monotonic)  # when `reachable` last changed
    error: str | None = None
    cluster_id: str | None = None
    cluster_changes: int = 0
    warnings: deque[str] = field(default_factory=lambda: deque(maxlen=5))  # cluster changes, lost topics


class _RebalanceListener(ConsumerRebalanceListener):
    """Lets the in-flight message finish and commit before the group takes partitions away; on assignment,
    notices committed offsets that vanished (the broker forgot them)."""

    def __init__(self, bus: KafkaBus, subscription: _Subscription) -> None:
        self._bus = bus
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
        await self._bus._check_committed(self._subscription, assigned)


class KafkaBus:
    """Bus over any Kafka-protocol broker; see the module docstring for the delivery and health rules.

    background_connect: when the broker cannot be reached within connect_timeout_s at start(), log it and
    keep connecting in the background instead of raising (health() says so; publish() raises BusUnavailable
    until connected). Services use it, so a broker outage never keeps them from starting.
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str,
        partitions: int = 6,
        replication_factor: int = 1,
        idempotence: bool = True,
        security: KafkaSecurity | None = None,
        request_timeout_s: float = 10.0,
        connect_timeout_s: float = 20.0,
        session_timeout_s: float = 10.0,
        linger_ms: int = 5,
        fetch_max_wait_ms: int = 500,
        retry_backoff_s: float = 0.5,
        max_retry_backoff_s: float = 10.0,
        shutdown_timeout_s: float = 10.0,
        health_interval_s: float = 2.0,
        background_connect: bool = False,
    ) -> None:
        self._bootstrap = bootstrap
        self._client_id = client_id
        self._partitions = partitions
        self._replication_factor = replication_factor
        self._idempotence = idempotence
        self._client_options = (security or KafkaSecurity()).client_options()
        self._request_timeout_s = request_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._session_timeout_s = session_timeout_s
        self._linger_ms = linger_ms
        # How long a fetch long-polls the broker when there is nothing to read. Kafka answers as soon as a
        # record arrives, so this costs no latency (publish to handled stays ~10 ms); 500 ms instead of 10 ms
        # took an idle consumer from ~8 % of a core to ~1 % (the fetches it no longer makes).
        self._fetch_max_wait_ms = fetch_max_wait_ms
        self._retry_backoff_s = retry_backoff_s
        self._max_retry_backoff_s = max_retry_backoff_s
        self._shutdown_timeout_s = shutdown_timeout_s
        self._health_interval_s = health_interval_s
        self._background_connect = background_connect
        self._subscriptions: dict[tuple[str, str | None], _Subscription] = {}
        self._broadcasts: list[_Subscription] = []
        self._producer: AIOKafkaProducer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._known_topics: set[str] = set()
        self._topics_lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._started = False
        self._background: list[asyncio.Task[None]] = []  # the watchdog, or the connector until connected
        self._state = _BrokerState()
        self._last_error: BaseException | None = None  # why the latest connection attempt failed
        self._replace_producer_pending = False  # the cluster changed: the producer's id means nothing there
        self._rewind_pending: set[str] = set()  # topics whose consumers must start from the earliest offset

    def subscribe(self, topic: str, *, group: str | None, handler: Handler) -> None:
        """Register `handler` before start(); group=None is a broadcast subscriber starting at the log end."""
        if self._started:
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
        """Create topics, start the producer, one consumer per subscription and the watchdog.

        Raises BusUnavailable when the broker cannot be reached within connect_timeout_s seconds, unless
        background_connect is set.
        """
        if self._started:
            raise RuntimeError("the bus is already started")
        self._started = True
        self._stopping.clear()
        self._state.since = time.monotonic()
        wait_s = min(self._connect_timeout_s, _START_WAIT_S) if self._background_connect else None
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
            _, pending = await asyncio.wait(tasks, timeout=self._shutdown_timeout_s)
            for task in pending:
                log.warning("consumer did not drain in time; cancelling", task=task.get_name())
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for subscription in self._all_subscriptions():
            subscription.task = None
        await self._close_clients()
        self._started = False
        log.info("kafka bus stopped", bootstrap=self._bootstrap, client_id=self._client_id)

    async def publish(self, messages: Sequence[Message]) -> None:
        """Send in order (key = partition key, headers as UTF-8) and wait for acks=all on every message.

        Raises BusUnavailable on any Kafka error, before the bus is connected, or after request_timeout_s
        seconds; none may be assumed sent except the PartialPublish's confirmed prefix.
        """
        if not messages:
            return
        if not self._started:
            raise RuntimeError("publish() before start()")
        producer = self._producer
        if producer is None:
            raise BusUnavailable(f"not connected to Kafka at {self._bootstrap} yet: {self._state.error}")
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
            if any(isinstance(_error_of(f), _FATAL_TO_PRODUCER) for f in futures) or isinstance(
                exc, _FATAL_TO_PRODUCER
            ):
                await self._replace_fatal_producer(producer, exc)
            raise PartialPublish(
                f"publish to {self._bootstrap} failed after {confirmed} of {len(messages)} messages: {exc!r}",
                confirmed=confirmed,
            ) from exc

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
        partitions: the end offset of each partition (asked of the broker now; the high watermark of the last
        fetch when it does not answer) minus the offset this member committed (its fetch position where it
        has committed nothing yet). A consumer stuck in a handler shows its backlog growing."""
        lags: dict[tuple[str, str], int] = {}
        for subscription in self._subscriptions.values():
            consumer = subscription.consumer
            if consumer is None or subscription.group is None:
                continue
            assigned = sorted(consumer.assignment())
            try:
                async with asyncio.timeout(self._request_timeout_s):
                    ends = await consumer.end_offsets(assigned) if assigned else {}
            except (KafkaError, OSError, TimeoutError):
                ends = {tp: consumer.highwater(tp) for tp in assigned}
            total = 0
            for tp in assigned:
                end = ends.get(tp)
                done = subscription.committed.get(tp)
                if done is None:
                    try:
                        async with asyncio.timeout(1.0):
                            done = await consumer.position(tp)
                    except (KafkaError, TimeoutError):
                        continue
                if end is not None:
                    total += max(end - done, 0)
            lags[(subscription.group, subscription.topic)] = total
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

    def _all_subscriptions(self) -> list[_Subscription]:
        return [*self._subscriptions.values(), *self._broadcasts]

    # ------------------------------------------------------------------ connecting

    async def _connect_within_timeout(self, timeout_s: float | None = None) -> None:
        self._last_error = None
        try:
            async with asyncio.timeout(timeout_s or self._connect_timeout_s):
                await self._connect()
        except (KafkaError, OSError, TimeoutError) as exc:
            await self._close_clients()
            cause = exc if self._last_error is None or not isinstance(exc, TimeoutError) else self._last_error
            raise BusUnavailable(
                f"Kafka at {self._bootstrap} is not available: {_describe(cause)}"
            ) from cause

    async def _start_admin(self, admin: AIOKafkaAdminClient) -> None:
        """Start the admin client, retrying while the broker is unreachable; the caller bounds the wait.

        aiokafka reports any bootstrap failure as "Unable to bootstrap"; the cause (refused credentials, a
        certificate that does not verify) is found by opening one connection by hand, and raised at once when
        retrying cannot help.
        """
        while True:
            try:
                await admin.start()
                return
            except (KafkaError, OSError) as exc:
                cause = await self._connection_error() or exc
                self._last_error = cause
                if _permanent(cause):
                    raise cause from exc
                log.info(
                    "broker not reachable yet; retrying", bootstrap=self._bootstrap, error=_describe(cause)
                )
                await asyncio.sleep(_CONNECT_RETRY_S)

    async def _connection_error(self) -> BaseException | None:
        """What opening (and authenticating) one connection to the first bootstrap address raises, if any."""
        host, _, port = self._bootstrap.split(",")[0].strip().rpartition(":")
        try:
            async with asyncio.timeout(self._request_timeout_s):
                connection = await create_conn(
                    host, int(port), client_id=self._client_id, **self._client_options
                )
        except (KafkaError, OSError, TimeoutError, ValueError) as error:
            return error
        connection.close()
        return None

    async def _connect_in_background(self) -> None:
        delay = self._retry_backoff_s
        while not self._stopping.is_set():
            await self._sleep_unless_stopping(delay)
            if self._stopping.is_set():
                return
            try:
                await self._connect_within_timeout()
            except BusUnavailable as error:
                self._went_down(error.__cause__ or error)
                delay = min(delay * 2, self._max_retry_backoff_s)
                continue
            self._run_connected()
            return

    def _run_connected(self) -> None:
        for subscription in self._all_subscriptions():
            subscription.task = asyncio.create_task(
                self._consume(subscription), name=f"kafka-consumer:{subscription.topic}:{subscription.group}"
            )
        self._background = [asyncio.create_task(self._watch(), name="kafka-watchdog")]
        log.info(
            "kafka bus started",
            bootstrap=self._bootstrap,
            client_id=self._client_id,
            subscriptions=len(self._all_subscriptions()),
            cluster_id=self._state.cluster_id,
        )

    async def _connect(self) -> None:
        self._admin = AIOKafkaAdminClient(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            request_timeout_ms=int(self._request_timeout_s * 1000),
            **self._client_options,
        )
        await self._start_admin(self._admin)
        info = await self._admin.describe_cluster()
        await self._ensure_topics(s.topic for s in self._all_subscriptions())
        self._producer = await self._start_producer()
        # Group joins take a while (the coordinator waits for other members), so they run side by side.
        await asyncio.gather(
            *(self._start_group_consumer(s) for s in self._subscriptions.values()),
            *(self._start_broadcast_consumer(s) for s in self._broadcasts),
        )
        self._came_up(str(info.get("cluster_id")))

    async def _start_producer(self) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            acks="all",
            enable_idempotence=self._idempotence,
            linger_ms=self._linger_ms,
            request_timeout_ms=int(self._request_timeout_s * 1000),
            **self._client_options,
        )
        try:
            await producer.start()
        except KafkaError as exc:
            await self._bounded(producer.stop(), "producer stop")
            if self._idempotence and not exc.retriable:
                raise KafkaError(
                    f"idempotent producer refused ({exc!r}); if the broker lacks InitProducerId, "
                    "set TASKSTREAM_KAFKA_IDEMPOTENCE=false"
                ) from exc
            raise
        return producer

    async def _replace_fatal_producer(self, producer: AIOKafkaProducer, error: BaseException) -> None:
        if self._producer is not producer:
            return  # replaced already
        log.error("kafka producer cannot go on; replacing it", bootstrap=self._bootstrap, error=repr(error))
        try:
            await self._replace_producer()
        except (KafkaError, OSError) as failure:
            log.warning(
                "kafka producer replacement failed; retrying on the next publish", error=repr(failure)
            )

    async def _replace_producer(self) -> None:
        """A new cluster knows nothing of the old producer id and its sequence numbers: start afresh."""
        replacement = await self._start_producer()
        old, self._producer = self._producer, replacement
        if old is not None:
            await self._bounded(old.stop(), "producer stop")

    async def _ensure_topics(self, topics: Iterable[str]) -> None:
        """Create each topic and its dead-letter topic that the broker lacks, with the configured partition
        count. Topics that exist are left alone, so a managed service whose topics were made in its console
        needs no right to create them; a missing one that cannot be created raises, naming it."""
        wanted = {name for topic in topics for name in with_dead_letter_topic(topic)}
        async with self._topics_lock:
            unknown = wanted - self._known_topics
            if not unknown:
                return
            assert self._admin is not None
            missing = sorted(unknown - set(await self._admin.list_topics()))
            if missing:
                new = [NewTopic(name, self._partitions, self._replication_factor) for name in missing]
                try:
                    response = await self._admin.create_topics(new)
                except TopicAlreadyExistsError:
                    response = None
                for topic_error in getattr(response, "topic_errors", ()):
                    code = topic_error[1]
                    if code not in (0, TopicAlreadyExistsError.errno):
                        raise for_code(code)(f"topic {topic_error[0]!r} is missing and could not be created")
                log.info("topics created", topics=missing, partitions=self._partitions)
            self._known_topics.update(unknown)

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
            request_timeout_ms=max(int(self._request_timeout_s * 1000), session_ms + 1000),
            # A member learns that its topic appeared (created again after a wipe) from metadata; aiokafka's
            # default refresh of 5 minutes would leave it without partitions that long.
            metadata_max_age_ms=_METADATA_MAX_AGE_MS,
            **self._client_options,
        )
        consumer.subscribe([subscription.topic], listener=_RebalanceListener(self, subscription))
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
            **self._client_options,
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

    # ------------------------------------------------------------------ the watchdog

    async def _watch(self) -> None:
        """Probe the broker until stop(); see the module docstring for what each finding does."""
        while not self._stopping.is_set():
            await self._sleep_unless_stopping(self._health_interval_s)
            if self._stopping.is_set():
                return
            try:
                await self._probe()
            except Exception:
                log.exception("kafka watchdog probe failed unexpectedly", bootstrap=self._bootstrap)

    async def _probe(self) -> None:
        admin = self._admin
        assert admin is not None
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._request_timeout_s):
                info = await admin.describe_cluster()
                present = set(await admin.list_topics())
        except (KafkaError, OSError, TimeoutError) as error:
            self._went_down(error, since=started)
            return
        cluster_id = str(info.get("cluster_id"))
        state = self._state
        async with self._topics_lock:
            expected = self._known_topics | {s.topic for s in self._all_subscriptions()}
            gone = sorted(expected - present)
            self._known_topics -= set(gone)
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
            if self._replace_producer_pending and self._producer is not None:
                await self._replace_producer()
                self._replace_producer_pending = False
            await self._ensure_topics(expected)
            for subscription in self._all_subscriptions():
                if subscription.topic in self._rewind_pending:
                    await self._rewind(subscription)
            self._rewind_pending.clear()
        except (KafkaError, OSError, TimeoutError) as error:
            self._went_down(error)  # what is pending is done on the next probe that reaches the broker
            return
        self._came_up(cluster_id)

    def _went_down(self, error: BaseException, *, since: float | None = None) -> None:
        """Record an outage; `since` is when the failed attempt began (default: now). Before the first
        connection the outage counts from start()."""
        text = _describe(error)
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

    async def _rewind(self, subscription: _Subscription) -> None:
        """Move `subscription` to the earliest offset of each partition it holds; drops batches in flight."""
        consumer = subscription.consumer
        if consumer is None:
            return
        async with subscription.lock:
            subscription.epoch += 1
            subscription.committed.clear()
            assigned = sorted(consumer.assignment())
            if assigned:
                async with asyncio.timeout(self._request_timeout_s):
                    await consumer.seek_to_beginning(*assigned)
        log.error(
            "consumer resumes from the earliest offset",
            topic=subscription.topic,
            group=subscription.group or "(broadcast)",
            partitions=[tp.partition for tp in assigned],
        )

    async def _check_committed(self, subscription: _Subscription, assigned: set[TopicPartition]) -> None:
        """After an assignment: learn the committed offsets (for lag) and report any this process committed
        that the broker no longer has."""
        consumer = subscription.consumer
        if consumer is None:
            return
        lost: list[int] = []
        for tp in sorted(assigned):
            try:
                async with asyncio.timeout(self._request_timeout_s):
                    committed = await consumer.committed(tp)
            except (KafkaError, OSError, TimeoutError):
                return  # lag stays unknown for now; the next assignment tries again
            if committed is None:
                if tp in subscription.committed:
                    lost.append(tp.partition)
                subscription.committed.pop(tp, None)
            else:
                subscription.committed[tp] = committed
        if lost:
            log.error(
                "committed offsets are gone from the broker; resuming from the earliest offset",
                topic=subscription.topic,
                group=subscription.group,
                partitions=lost,
                hint="events the broker forgot are lost to the bus: taskstream outbox replay --since <time>",
            )

    # ------------------------------------------------------------------ consuming

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
            return
        except KafkaError as exc:
            # The next successful commit on this partition covers this one; until then a restart redelivers.
            log.warning("offset commit failed", topic=tp.topic, partition=tp.partition, error=repr(exc))
            return
        subscription.committed[tp] = next_offset

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _close_clients(self) -> None:
        clients: list[Any] = [s.consumer for s in self._all_subscriptions() if s.consumer is not None]
        clients.append(self._producer)
        closing = [self._bounded(c.stop(), "client stop") for c in clients if c is not None]
        if self._admin is not None:
            closing.append(self._bounded(self._admin.close(), "admin close"))
        await asyncio.gather(*closing)
        for subscription in self._all_subscriptions():
            subscription.consumer = None
        self._producer = None
        self._admin = None
        self._known_topics.clear()

    async def _bounded(self, closing: Any, what: str) -> None:
        try:
            await asyncio.wait_for(closing, timeout=_CLOSE_TIMEOUT_S)
        except (KafkaError, OSError, TimeoutError) as exc:
            log.warning("kafka client did not close cleanly", step=what, error=repr(exc))


def _describe(error: BaseException) -> str:
    """`Type: message` of an error, once (aiokafka's messages often start with their type already)."""
    text = str(error)
    name = type(error).__name__
    return (text if text.startswith(name) else f"{name}: {text}").rstrip(": ")


def _permanent(error: BaseException) -> bool:
    """True for failures retrying cannot cure: refused credentials, a certificate that does not verify."""
    if isinstance(error, ssl.SSLError | AuthenticationFailedError | SaslAuthenticationFailed):
        return True
    return isinstance(error, KafkaError) and not error.retriable and "Unable to bootstrap" not in str(error)


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


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


def _error_of(future: asyncio.Future[Any]) -> BaseException | None:
    if not future.done() or future.cancelled():
        return None
    return future.exception()


def _retrieve_exception(future: asyncio.Future[Any]) -> None:
    """Mark a send future's error as seen, so a timed-out publish leaves no 'never retrieved' warning."""
    if not future.cancelled():
        future.exception()

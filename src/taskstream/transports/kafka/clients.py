"""The admin client and the producer of one Kafka bus, and the topics it knows exist."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable, Sequence
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.conn import create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    InvalidProducerEpoch,
    KafkaError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    SaslAuthenticationFailed,
    TopicAlreadyExistsError,
    UnknownProducerId,
    for_code,
)

from taskstream.events.topics import with_dead_letter_topic
from taskstream.messaging.bus import Message, PartialPublish
from taskstream.transports.kafka.config import KafkaConfig

log = structlog.get_logger(__name__)

# A producer that meets these cannot go on (its id or sequence numbers mean nothing to the broker, as with a
# wiped cluster that handed the same producer id out again): it is replaced by a new one for the next publish.
_FATAL_TO_PRODUCER = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch, ProducerFenced)

_CONNECT_RETRY_S = 0.5
_CLOSE_TIMEOUT_S = 3.0  # for closing the clients at stop(), after the handlers drained


class Clients:
    """Admin and producer of one bus; `connect()` starts them, `close()` stops them (and given consumers)."""

    def __init__(self, config: KafkaConfig) -> None:
        self._config = config
        self.admin: AIOKafkaAdminClient | None = None
        self.producer: AIOKafkaProducer | None = None
        self.known_topics: set[str] = set()
        self.topics_lock = asyncio.Lock()
        self.last_error: BaseException | None = None  # why the latest connection attempt failed

    async def connect(self, topics: Iterable[str]) -> str:
        """Start the admin client, create missing `topics`, start the producer; returns the cluster id."""
        config = self._config
        self.admin = AIOKafkaAdminClient(
            bootstrap_servers=config.bootstrap,
            client_id=config.client_id,
            request_timeout_ms=int(config.request_timeout_s * 1000),
            **config.client_options,
        )
        await self._start_admin(self.admin)
        info = await self.admin.describe_cluster()
        await self.ensure_topics(topics)
        self.producer = await self._start_producer()
        return str(info.get("cluster_id"))

    async def ensure_topics(self, topics: Iterable[str]) -> None:
        """Create each topic and its dead-letter topic that the broker lacks, with the configured partition
        count. Topics that exist are left alone, so a managed service whose topics were made in its console
        needs no right to create them; a missing one that cannot be created raises, naming it."""
        config = self._config
        wanted = {name for topic in topics for name in with_dead_letter_topic(topic)}
        async with self.topics_lock:
            unknown = wanted - self.known_topics
            if not unknown:
                return
            assert self.admin is not None
            missing = sorted(unknown - set(await self.admin.list_topics()))
            if missing:
                new = [NewTopic(name, config.partitions, config.replication_factor) for name in missing]
                try:
                    response = await self.admin.create_topics(new)
                except TopicAlreadyExistsError:
                    response = None
                for topic_error in getattr(response, "topic_errors", ()):
                    code = topic_error[1]
                    if code not in (0, TopicAlreadyExistsError.errno):
                        raise for_code(code)(f"topic {topic_error[0]!r} is missing and could not be created")
                log.info("topics created", topics=missing, partitions=config.partitions)
            self.known_topics.update(unknown)

    async def publish(self, producer: AIOKafkaProducer, messages: Sequence[Message]) -> None:
        """Send `messages` in order with `producer` and wait for every ack (see KafkaBus.publish).

        Raises PartialPublish (a BusUnavailable) naming how many leading messages were confirmed.
        """
        futures: list[asyncio.Future[Any]] = []
        try:
            async with asyncio.timeout(self._config.request_timeout_s):
                await self.ensure_topics(m.topic for m in messages)
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
                await self.replace_fatal_producer(producer, exc)
            raise PartialPublish(
                f"publish to {self._config.bootstrap} failed after {confirmed} of {len(messages)} messages: "
                f"{exc!r}",
                confirmed=confirmed,
            ) from exc

    async def replace_fatal_producer(self, producer: AIOKafkaProducer, error: BaseException) -> None:
        """`producer` met an error it cannot go on from: put a new one in its place (unless done already)."""
        if self.producer is not producer:
            return  # replaced already
        log.error(
            "kafka producer cannot go on; replacing it", bootstrap=self._config.bootstrap, error=repr(error)
        )
        try:
            await self.replace_producer()
        except (KafkaError, OSError) as failure:
            log.warning(
                "kafka producer replacement failed; retrying on the next publish", error=repr(failure)
            )

    async def replace_producer(self) -> None:
        """A new cluster knows nothing of the old producer id and its sequence numbers: start afresh."""
        replacement = await self._start_producer()
        old, self.producer = self.producer, replacement
        if old is not None:
            await _bounded(old.stop(), "producer stop")

    async def close(self, consumers: Iterable[Any]) -> None:
        """Stop `consumers`, the producer and the admin client, each within a few seconds."""
        clients: list[Any] = [*consumers, self.producer]
        closing = [_bounded(c.stop(), "client stop") for c in clients if c is not None]
        if self.admin is not None:
            closing.append(_bounded(self.admin.close(), "admin close"))
        await asyncio.gather(*closing)
        self.producer = None
        self.admin = None
        self.known_topics.clear()

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
                self.last_error = cause
                if _permanent(cause):
                    raise cause from exc
                log.info(
                    "broker not reachable yet; retrying",
                    bootstrap=self._config.bootstrap,
                    error=describe(cause),
                )
                await asyncio.sleep(_CONNECT_RETRY_S)

    async def _connection_error(self) -> BaseException | None:
        """What opening (and authenticating) one connection to the first bootstrap address raises, if any."""
        config = self._config
        host, _, port = config.bootstrap.split(",")[0].strip().rpartition(":")
        try:
            async with asyncio.timeout(config.request_timeout_s):
                connection = await create_conn(
                    host, int(port), client_id=config.client_id, **config.client_options
                )
        except (KafkaError, OSError, TimeoutError, ValueError) as error:
            return error
        connection.close()
        return None

    async def _start_producer(self) -> AIOKafkaProducer:
        config = self._config
        producer = AIOKafkaProducer(
            bootstrap_servers=config.bootstrap,
            client_id=config.client_id,
            acks="all",
            enable_idempotence=config.idempotence,
            linger_ms=config.linger_ms,
            request_timeout_ms=int(config.request_timeout_s * 1000),
            **config.client_options,
        )
        try:
            await producer.start()
        except KafkaError as exc:
            await _bounded(producer.stop(), "producer stop")
            if config.idempotence and not exc.retriable:
                raise KafkaError(
                    f"idempotent producer refused ({exc!r}); if the broker lacks InitProducerId, "
                    "set TASKSTREAM_KAFKA_IDEMPOTENCE=false"
                ) from exc
            raise
        return producer


async def _bounded(closing: Any, what: str) -> None:
    try:
        await asyncio.wait_for(closing, timeout=_CLOSE_TIMEOUT_S)
    except (KafkaError, OSError, TimeoutError) as exc:
        log.warning("kafka client did not close cleanly", step=what, error=repr(exc))


def describe(error: BaseException) -> str:
    """`Type: message` of an error, once (aiokafka's messages often start with their type already)."""
    text = str(error)
    name = type(error).__name__
    return (text if text.startswith(name) else f"{name}: {text}").rstrip(": ")


def _permanent(error: BaseException) -> bool:
    """True for failures retrying cannot cure: refused credentials, a certificate that does not verify."""
    if isinstance(error, ssl.SSLError | AuthenticationFailedError | SaslAuthenticationFailed):
        return True
    return isinstance(error, KafkaError) and not error.retriable and "Unable to bootstrap" not in str(error)


def _headers(message: Message) -> list[tuple[str, bytes]]:
    return [(name, value.encode()) for name, value in message.headers.items()]


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

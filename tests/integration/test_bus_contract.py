"""One contract suite for every bus adapter: MemoryBus in-process, KafkaBus against Apache Kafka, and
DaprBus beside a real daprd over that Kafka (tests/dapr/harness.py)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from taskstream.devkafka import KafkaBroker, free_port
from taskstream.messaging.bus import Bus, BusUnavailable, Message
from taskstream.transports.kafka import KafkaBus
from taskstream.transports.memory import MemoryBus
from tests.conftest import start_kafka
from tests.dapr.cluster import require_daprd
from tests.dapr.harness import SidecarBus

WAIT_S = 15.0  # upper bound for any single wait; a passing run takes a fraction of it
PARTITIONS = 6
# Fast settings for tests: a short session makes a departed member's partitions move on quickly.
KAFKA_TEST_SETTINGS: dict[str, Any] = {
    "partitions": PARTITIONS,
    "session_timeout_s": 2.0,
    "request_timeout_s": 3.0,
    "connect_timeout_s": 5.0,
    "retry_backoff_s": 0.05,
    "max_retry_backoff_s": 0.5,
}


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """One Apache Kafka broker for the module; skips without Java or its jars, but fails under CI."""
    broker = start_kafka(tmp_path_factory.mktemp("kafka"))
    yield broker
    broker.stop()


class Buses:
    """Makes buses on one transport: the one shared MemoryBus, a new KafkaBus client of the test broker, or
    a new DaprBus with its own daprd (app id = its consumer group) in `directory`."""

    def __init__(
        self, broker: KafkaBroker | None, kind: str = "kafka", directory: Path | None = None
    ) -> None:
        self.broker = broker
        self.kind = "memory" if broker is None else kind
        self.directory = directory
        self._memory = MemoryBus()
        self._made: list[Bus] = []

    def new(self, **overrides: Any) -> Bus:
        if self.broker is None:
            bus: Bus = self._memory
        elif self.kind == "dapr":
            assert self.directory is not None
            name = f"contract-{len(self._made)}"
            bus = SidecarBus(self.broker.bootstrap, self.directory / name, name)
        else:
            settings = {**KAFKA_TEST_SETTINGS, **overrides}
            bus = KafkaBus(self.broker.bootstrap, client_id=f"contract-{len(self._made)}", **settings)
        self._made.append(bus)
        return bus

    def delivered(self, messages: Sequence[Message]) -> list[Message]:
        """`messages` as this transport hands them to a handler. Through Dapr the record headers arrive as
        HTTP headers among daprd's own, so a DaprBus delivery carries topic, key and value only."""
        if self.kind != "dapr":
            return list(messages)
        return [Message(m.topic, m.key, m.value) for m in messages]

    @property
    def batches(self) -> bool:
        """Whether a batch handler gets several messages per call (daprd posts one event per request)."""
        return self.kind != "dapr"

    async def stop_all(self) -> None:
        for bus in dict.fromkeys(self._made):  # the shared MemoryBus once
            await bus.stop()


@pytest.fixture(
    params=[
        "memory",
        pytest.param("kafka", marks=pytest.mark.kafka),
        pytest.param("dapr", marks=pytest.mark.kafka),
    ]
)
async def buses(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Buses]:
    if request.param == "dapr":
        require_daprd()
    broker = request.getfixturevalue("kafka_broker") if request.param != "memory" else None
    made = Buses(broker, request.param, tmp_path)
    yield made
    await made.stop_all()


@pytest.fixture
async def kafka_buses(kafka_broker: KafkaBroker) -> AsyncIterator[Buses]:
    made = Buses(kafka_broker)
    yield made
    await made.stop_all()


@pytest.fixture
def suffix() -> str:
    """Makes topic and consumer group names unique per test: the broker outlives the test."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def topic(suffix: str) -> str:
    return f"contract-{suffix}"


# ---------------------------------------------------------------- helpers


class Recorder:
    """A handler that keeps what it received and lets a test wait for a count."""

    def __init__(self, on_message: Callable[[Message], Awaitable[None]] | None = None) -> None:
        self.received: list[Message] = []
        self._on_message = on_message
        self._changed = asyncio.Event()

    async def handler(self, message: Message) -> None:
        if self._on_message is not None:
            await self._on_message(message)
        self.received.append(message)
        self._changed.set()

    @property
    def values(self) -> list[bytes]:
        return [m.value for m in self.received]

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(WAIT_S):
            while len(self.received) < count:
                self._changed.clear()
                await self._changed.wait()


def stream(topic: str, *, keys: Sequence[str], per_key: int) -> list[Message]:
    """Messages interleaved over `keys`; value "key:n" and a CloudEvents id header."""
    return [
        Message(topic, key, f"{key}:{n}".encode(), {"ce_id": f"{key}-{n}", "ce_type": "test.v1"})
        for n in range(per_key)
        for key in keys
    ]


def by_key(messages: Sequence[Message]) -> dict[str, list[Message]]:
    grouped: dict[str, list[Message]] = defaultdict(list)
    for message in messages:
        grouped[message.key].append(message)
    return dict(grouped)


async def eventually(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` (group assignments change inside aiokafka, with no event to wait on)."""
    async with asyncio.timeout(WAIT_S):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    assert condition(), what


# ---------------------------------------------------------------- the contract, for every adapter


async def test_publish_then_consume_keeps_order_per_key(buses: Buses, topic: str, suffix: str) -> None:
    bus, recorder = buses.new(), Recorder()
    bus.subscribe(topic, group=f"audit-{suffix}", handler=recorder.handler)
    await bus.start()
    sent = stream(topic, keys=["user-a", "user-b", "user-c"], per_key=10)

    await bus.publish(sent)
    await recorder.wait_for(len(sent))

    assert by_key(recorder.received) == by_key(buses.delivered(sent))  # same messages, in order per key


class BatchRecorder(Recorder):
    """A batch handler (as the inbox consumer is): keeps every call's messages, one or several."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[Message]] = []

    async def __call__(self, message: Message) -> None:
        self.calls.append([message])
        await self.handler(message)

    async def handle_batch(self, messages: Sequence[Message]) -> None:
        self.calls.append(list(messages))
        for message in messages:
            await self.handler(message)


async def test_a_batch_handler_gets_every_message_once_in_order_per_key(
    buses: Buses, topic: str, suffix: str
) -> None:
    bus, recorder = buses.new(), BatchRecorder()
    bus.subscribe(topic, group=f"audit-{suffix}", handler=recorder)
    await bus.start()
    sent = stream(topic, keys=["user-a", "user-b", "user-c"], per_key=30)

    await bus.publish(sent)
    await recorder.wait_for(len(sent))

    assert by_key(recorder.received) == by_key(buses.delivered(sent))  # once each, in order per key
    if buses.batches:
        assert any(len(call) > 1 for call in recorder.calls)  # several at once: one transaction for them


async def test_every_group_receives_every_message(buses: Buses, topic: str, suffix: str) -> None:
    bus, audit, recurring = buses.new(), Recorder(), Recorder()
    bus.subscribe(topic, group=f"audit-{suffix}", handler=audit.handler)
    bus.subscribe(topic, group=f"recurring-{suffix}", handler=recurring.handler)
    await bus.start()
    sent = stream(topic, keys=["user-a", "user-b"], per_key=6)

    await bus.publish(sent)
    await audit.wait_for(len(sent))
    await recurring.wait_for(len(sent))

    assert by_key(audit.received) == by_key(buses.delivered(sent))
    assert by_key(recurring.received) == by_key(buses.delivered(sent))


async def test_broadcast_subscribers_each_see_every_message_published_after_they_started(
    buses: Buses, topic: str
) -> None:
    publisher = buses.new()
    await publisher.start()
    await publisher.publish([Message(topic, "user-a", b"before")])
    replicas = [Recorder(), Recorder()]
    for recorder in replicas:
        replica = buses.new()
        replica.subscribe(topic, group=None, handler=recorder.handler)
        await replica.start()
    sent = stream(topic, keys=["user-a"], per_key=5)  # same key as "before": it would have come first

    await publisher.publish(sent)

    for recorder in replicas:
        await recorder.wait_for(len(sent))
        assert recorder.values == [m.value for m in sent]


async def test_failing_handler_gets_the_same_message_again_and_later_ones_wait(
    buses: Buses, topic: str, suffix: str
) -> None:
    log: list[tuple[bytes, str]] = []

    async def database_down_once(message: Message) -> None:
        if message.value == b"user-a:2" and (message.value, "failed") not in log:
            log.append((message.value, "failed"))
            raise RuntimeError("database down")
        log.append((message.value, "ok"))

    bus, recorder = buses.new(), Recorder(database_down_once)
    bus.subscribe(topic, group=f"audit-{suffix}", handler=recorder.handler)
    await bus.start()
    sent = stream(topic, keys=["user-a"], per_key=5)

    await publish_like_the_relay(bus, sent)
    await eventually(lambda: (b"user-a:4", "ok") in log, "the last message was handled")

    handled = list(dict.fromkeys(value for value, outcome in log if outcome == "ok"))
    assert handled == [m.value for m in sent]  # nothing skipped, nothing reordered
    retried_at = log.index((b"user-a:2", "ok"))
    assert log.index((b"user-a:2", "failed")) < retried_at
    assert {value for value, _ in log[:retried_at]} <= {b"user-a:0", b"user-a:1", b"user-a:2"}


async def publish_like_the_relay(bus: Bus, messages: Sequence[Message]) -> None:
    """Publish as the outbox relay does: on failure the whole unsent batch is published again.

    MemoryBus hands a handler's error back to publish(); KafkaBus retries in the consumer instead.
    """
    for _ in range(5):
        try:
            await bus.publish(messages)
            return
        except Exception:  # the relay keeps the rows unsent and tries again
            await asyncio.sleep(0.01)
    raise AssertionError("publish kept failing")


# ---------------------------------------------------------------- Kafka only: several processes, one broker


async def test_members_of_one_group_share_the_messages_each_consumed_once(
    kafka_buses: Buses, topic: str, suffix: str
) -> None:
    members = [Recorder(), Recorder()]
    group_buses: list[KafkaBus] = []
    for recorder in members:
        bus = kafka_buses.new()
        assert isinstance(bus, KafkaBus)
        bus.subscribe(topic, group=f"notifications-{suffix}", handler=recorder.handler)
        await bus.start()
        group_buses.append(bus)

    def split_between_both() -> bool:
        a, b = (bus.assigned_partitions(topic, group=f"notifications-{suffix}") for bus in group_buses)
        return bool(a) and bool(b) and not a & b and a | b == set(range(PARTITIONS))

    await eventually(split_between_both, "both members hold partitions")
    publisher = kafka_buses.new()
    await publisher.start()
    sent = stream(topic, keys=[f"user-{n}" for n in range(20)], per_key=3)

    await publisher.publish(sent)
    await eventually(lambda: sum(len(r.received) for r in members) >= len(sent), "all messages consumed")

    consumed = [m.value for r in members for m in r.received]
    assert sorted(consumed) == sorted(m.value for m in sent)  # each exactly once across the group
    assert all(r.received for r in members)
    for recorder in members:
        for key, messages in by_key(recorder.received).items():
            assert messages == by_key(sent)[key]  # a key lives on one partition, so on one member


@pytest.mark.parametrize("drains", [True, False], ids=["in-flight-drained", "in-flight-cut-off"])
async def test_restarted_consumer_resumes_after_the_last_committed_message(
    kafka_buses: Buses, topic: str, suffix: str, drains: bool
) -> None:
    reached, release = asyncio.Event(), asyncio.Event()

    async def hold_the_eighth(message: Message) -> None:
        if message.value == b"user-a:7":
            reached.set()
            await release.wait()  # in flight while stop() begins; never released when cut off

    publisher = kafka_buses.new()
    await publisher.start()
    sent = stream(topic, keys=["user-a"], per_key=20)
    await publisher.publish(sent)
    first, before = kafka_buses.new(shutdown_timeout_s=0.3), Recorder(hold_the_eighth)
    first.subscribe(topic, group=f"audit-{suffix}", handler=before.handler)
    await first.start()
    async with asyncio.timeout(WAIT_S):
        await reached.wait()

    stopping = asyncio.create_task(first.stop())
    await asyncio.sleep(0.1)
    if drains:
        release.set()
    await stopping  # cut off: stop() cancels the handler after shutdown_timeout_s, its offset uncommitted
    second, after = kafka_buses.new(), Recorder()
    second.subscribe(topic, group=f"audit-{suffix}", handler=after.handler)
    await second.start()
    resumes_at = 8 if drains else 7
    await after.wait_for(len(sent) - resumes_at)

    values = [m.value for m in sent]
    assert before.values == values[:resumes_at]  # nothing started after stop()
    assert after.values == values[resumes_at:]  # nothing lost; only an unfinished in-flight message repeats


async def test_publish_while_broker_paused_raises_within_timeout_then_recovers(
    kafka_buses: Buses, kafka_broker: KafkaBroker, topic: str, suffix: str
) -> None:
    bus, recorder = kafka_buses.new(request_timeout_s=2.0), Recorder()
    bus.subscribe(topic, group=f"audit-{suffix}", handler=recorder.handler)
    await bus.start()
    await bus.publish([Message(topic, "user-a", b"before")])
    await recorder.wait_for(1)

    kafka_broker.pause()
    try:
        started = time.monotonic()
        with pytest.raises(BusUnavailable):
            await bus.publish([Message(topic, "user-a", b"during")])
        elapsed = time.monotonic() - started
    finally:
        kafka_broker.resume()
    assert 1.5 <= elapsed < 3.0
    await publish_like_the_relay(bus, [Message(topic, "user-a", b"after")])
    await eventually(lambda: b"after" in recorder.values, "the message published after resume arrives")

    # "during" may have landed; "before" comes twice when the pause cut its commit off (at least once)
    assert list(dict.fromkeys(recorder.values)) in ([b"before", b"after"], [b"before", b"during", b"after"])


async def test_start_raises_bus_unavailable_when_no_broker_answers() -> None:
    bus = KafkaBus(f"127.0.0.1:{free_port()}", client_id="contract", connect_timeout_s=1.0)
    started = time.monotonic()

    with pytest.raises(BusUnavailable):
        await bus.start()

    assert time.monotonic() - started < 2.0


async def test_a_topic_deleted_under_a_running_group_is_created_again_and_consumed_from_its_start(
    kafka_buses: Buses, kafka_broker: KafkaBroker, topic: str, suffix: str
) -> None:
    bus, recorder = kafka_buses.new(health_interval_s=0.2), Recorder()
    assert isinstance(bus, KafkaBus)
    bus.subscribe(topic, group=f"audit-{suffix}", handler=recorder.handler)
    await bus.start()
    await bus.publish(stream(topic, keys=["user-a"], per_key=3))
    await recorder.wait_for(3)

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()
    await eventually(
        lambda: any("vanished" in w for w in bus.health().detail.get("warnings", [])),
        "the bus to notice the topic is gone and make it again",
    )
    after = [Message(topic, "user-a", f"after:{n}".encode()) for n in range(2)]
    await publish_like_the_relay(bus, after)
    await recorder.wait_for(5)

    assert recorder.values[3:] == [b"after:0", b"after:1"]  # offsets 0 and 1 of the new topic, none skipped

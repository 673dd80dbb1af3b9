"""A Kafka subscription leaves no record behind when a fetch is cut short.

The consumer here is a boundary fake with aiokafka's semantics for what a Subscription uses: getmany()
moves each partition's position past every record it returns, seek() moves it back, and commit() can fail
once with CommitFailedError, then accept later offsets, as the broker does for a member whose session
expired while it was down (its group is empty, so a commit without generation is taken). That sequence,
met after a broker restart, used to skip the rest of the fetch for good.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaConnectionError

from taskstream.messaging.bus import Message
from taskstream.transports.kafka.config import KafkaConfig
from taskstream.transports.kafka.consuming import Subscription

TOPIC = "task-events"
RECORDS = 40  # per partition
BATCH = 10  # per partition and fetch


class FakeGroupConsumer:
    """`partitions` partitions of RECORDS records each; commits fail once as `failing` says."""

    def __init__(self, failing: dict[tuple[int, int], BaseException], *, partitions: int = 1) -> None:
        self.tps = [TopicPartition(TOPIC, p) for p in range(partitions)]
        self.position = dict.fromkeys(self.tps, 0)
        self.committed = dict.fromkeys(self.tps, 0)
        self._failing = dict(failing)  # (partition, next offset) → the error its first commit raises

    def assignment(self) -> set[TopicPartition]:
        return set(self.tps)

    async def getmany(
        self, timeout_ms: int, max_records: int
    ) -> dict[TopicPartition, list[ConsumerRecord[Any, Any]]]:
        await asyncio.sleep(0)
        fetched = {}
        for tp in self.tps:
            start = self.position[tp]
            records = [_record(tp, offset) for offset in range(start, min(start + BATCH, RECORDS))]
            self.position[tp] += len(records)
            if records:
                fetched[tp] = records
        return fetched

    async def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        for tp in partitions:
            self.position[tp] = 0

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.position[tp] = offset

    async def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        ((tp, meta),) = offsets.items()
        error = self._failing.pop((tp.partition, meta.offset), None)
        if error is not None:
            raise error
        self.committed[tp] = meta.offset

    def done(self) -> bool:
        return all(self.committed[tp] == RECORDS == self.position[tp] for tp in self.tps)


def _record(tp: TopicPartition, offset: int) -> ConsumerRecord[bytes, bytes]:
    value = f"{tp.partition}:{offset}".encode()
    return ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, b"user", value, None, 4, len(value), [])


def every(partitions: int = 1) -> list[str]:
    return [f"{p}:{o}" for p in range(partitions) for o in range(RECORDS)]


class Batches:
    """A batch handler (as the inbox consumer is): records what it got, one call or one batch at a time."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def __call__(self, message: Message) -> None:
        self.calls.append([message.value.decode()])

    async def handle_batch(self, messages: Sequence[Message]) -> None:
        self.calls.append([m.value.decode() for m in messages])


async def _consume(
    consumer: FakeGroupConsumer, handler: Any, rewind_at: str | None = None, log: list[str] | None = None
) -> None:
    rewinds: list[asyncio.Task[None]] = []
    subscription = Subscription(TOPIC, "audit", [handler])

    async def rewinding(message: Message) -> None:
        await handler(message)
        if message.value.decode() == rewind_at and not rewinds:  # as the watchdog does, from another task
            rewinds.append(asyncio.create_task(subscription.rewind(timeout_s=1.0)))
            await asyncio.sleep(0)  # the rewind now waits for this record to finish

    if rewind_at is not None:
        subscription.handlers = [rewinding]
    subscription.consumer = consumer
    stopping = asyncio.Event()
    config = KafkaConfig("127.0.0.1:9", "test", retry_backoff_s=0.01)
    task = asyncio.create_task(subscription.consume(stopping, config))
    async with asyncio.timeout(10):
        while not consumer.done():  # noqa: ASYNC110 (a fake's state)
            await asyncio.sleep(0.001)
    stopping.set()
    await task


async def test_a_commit_lost_to_a_rebalance_mid_fetch_leaves_the_rest_to_be_handled() -> None:
    handled: list[str] = []

    async def plain(message: Message) -> None:
        handled.append(message.value.decode())

    await _consume(FakeGroupConsumer({(0, 15): CommitFailedError("the group rebalanced")}), plain)
    assert sorted(set(handled)) == sorted(every())
    assert len(handled) == RECORDS  # the record whose commit failed was handled once; nothing repeats


async def test_failed_commits_in_two_fetches_skip_nothing() -> None:
    handled: list[str] = []

    async def plain(message: Message) -> None:
        handled.append(message.value.decode())

    failing = {(0, 6): KafkaConnectionError("broker gone"), (0, 28): CommitFailedError()}
    await _consume(FakeGroupConsumer(failing), plain)
    assert sorted(set(handled)) == sorted(every())


async def test_a_batch_handler_gets_each_partitions_share_of_a_fetch_at_once() -> None:
    batches = Batches()
    await _consume(FakeGroupConsumer({}, partitions=2), batches)
    assert all(len(call) == BATCH for call in batches.calls)
    assert sorted(v for call in batches.calls for v in call) == sorted(every(2))


async def test_a_commit_lost_on_one_partition_leaves_the_other_partitions_share_to_be_handled() -> None:
    batches = Batches()
    consumer = FakeGroupConsumer({(0, BATCH): CommitFailedError("the group rebalanced")}, partitions=2)
    await _consume(consumer, batches)
    got = [v for call in batches.calls for v in call]
    assert sorted(set(got)) == sorted(every(2))  # partition 1's first batch was dropped stale, then refetched
    assert len(got) == len(set(got))


async def test_a_rewind_mid_fetch_wins_over_going_back_to_the_first_unhandled_record() -> None:
    handled: list[str] = []

    async def plain(message: Message) -> None:
        handled.append(message.value.decode())

    await _consume(FakeGroupConsumer({}), plain, rewind_at="0:15")
    assert handled == [f"0:{o}" for o in (*range(16), *range(RECORDS))]  # from the start again

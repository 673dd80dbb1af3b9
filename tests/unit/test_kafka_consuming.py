"""A Kafka subscription leaves no record behind when a batch is cut short.

The consumer here is a boundary fake with aiokafka's semantics for what a Subscription uses: getmany()
moves the position past every record it returns, seek() moves it back, and commit() can fail once with
CommitFailedError, then accept later offsets, as the broker does for a member whose session expired
while it was down (its group is empty, so a commit without generation is taken). That sequence, met after
a broker restart, used to skip the rest of the batch for good.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaConnectionError

from taskstream.messaging.bus import Message
from taskstream.transports.kafka.config import KafkaConfig
from taskstream.transports.kafka.consuming import Subscription

TP = TopicPartition("task-events", 0)
RECORDS = 40
BATCH = 10


class FakeGroupConsumer:
    """One partition of RECORDS records, fetched BATCH at a time; commits fail as `failing` says."""

    def __init__(self, failing: dict[int, BaseException]) -> None:
        self.position = 0
        self.committed = 0
        self._failing = dict(failing)  # next offset → the error its first commit raises

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    async def getmany(self, timeout_ms: int) -> dict[TopicPartition, list[ConsumerRecord[Any, Any]]]:
        await asyncio.sleep(0)
        records = [_record(offset) for offset in range(self.position, min(self.position + BATCH, RECORDS))]
        self.position += len(records)
        return {TP: records} if records else {}

    async def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        self.position = 0

    def seek(self, tp: TopicPartition, offset: int) -> None:
        assert tp == TP
        self.position = offset

    async def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        offset = offsets[TP].offset
        error = self._failing.pop(offset, None)
        if error is not None:
            raise error
        self.committed = offset


def _record(offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(TP.topic, TP.partition, offset, 0, 0, b"user", str(offset).encode(), None, 4, 2, [])


async def _consume_until_committed(
    failing: dict[int, BaseException], *, rewind_at: int | None = None
) -> list[int]:
    handled: list[int] = []
    rewinds: list[asyncio.Task[None]] = []

    async def handler(message: Message) -> None:
        handled.append(int(message.value))
        if int(message.value) == rewind_at and not rewinds:  # as the watchdog does, from another task
            rewinds.append(asyncio.create_task(subscription.rewind(timeout_s=1.0)))
            await asyncio.sleep(0)  # the rewind now waits for this record to finish

    subscription = Subscription(TP.topic, "audit", [handler])
    consumer = FakeGroupConsumer(failing)
    subscription.consumer = consumer
    stopping = asyncio.Event()
    task = asyncio.create_task(
        subscription.consume(stopping, KafkaConfig("127.0.0.1:9", "test", retry_backoff_s=0.01))
    )
    async with asyncio.timeout(10):
        while consumer.committed < RECORDS or consumer.position < RECORDS:  # noqa: ASYNC110 (a fake's state)
            await asyncio.sleep(0.001)
    stopping.set()
    await task
    return handled


async def test_a_commit_lost_to_a_rebalance_mid_batch_leaves_the_rest_of_the_batch_to_be_handled() -> None:
    handled = await _consume_until_committed({14: CommitFailedError("the group rebalanced")})
    assert sorted(set(handled)) == list(range(RECORDS))
    assert len(handled) == RECORDS  # the record whose commit failed was handled once; nothing repeats


async def test_failed_commits_in_two_batches_skip_nothing() -> None:
    handled = await _consume_until_committed(
        {5: KafkaConnectionError("broker gone"), 27: CommitFailedError()}
    )
    assert sorted(set(handled)) == list(range(RECORDS))


async def test_a_rewind_mid_batch_wins_over_going_back_to_the_first_unhandled_record() -> None:
    handled = await _consume_until_committed({}, rewind_at=15)
    assert handled == [*range(16), *range(RECORDS)]  # from the start again, right after the rewind

"""One subscription of the Kafka bus: its consumer, the fetch-handle-commit loop, rewinds and lag.

The records a fetch returns for one partition go at once to batch handlers (the inbox consumer: one
transaction for all), one by one to other handlers, and are committed right after the handlers returned,
so a crash repeats at most those; the inbox makes repeats harmless.
Records whose handler raised are not skipped: the partition is sought back to them and they are tried again
after a backoff.
Each revocation or rewind bumps the subscription's epoch under its lock; records fetched under an older
epoch are dropped unhandled (the consumer's new position comes from the committed offsets).
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import OffsetAndMetadata

from taskstream.messaging.bus import BatchHandler, Handler, Message, deliver
from taskstream.transports.kafka.config import KafkaConfig, sleep_unless

log = structlog.get_logger(__name__)

_POLL_MS = 200  # how long one fetch waits for records; bounds how fast stop() is noticed
# Records of one fetch, over all partitions: each partition's share is handled in one call (a transaction
# for a batch handler) and one commit; the bound keeps a drain at stop() short.
_MAX_RECORDS = 100
_METADATA_MAX_AGE_MS = 5000


class _Outcome(enum.Enum):
    DONE = "done"
    FAILED = "failed"  # handler raised; the partition was rewound to the message
    STALE = "stale"  # a rebalance or rewind happened since the batch was fetched; drop the batch
    STOPPING = "stopping"


@dataclass(eq=False)
class Subscription:
    """The handlers of one (topic, group); group None is a broadcast subscriber starting at the log end."""

    topic: str
    group: str | None
    handlers: list[Handler]
    consumer: AIOKafkaConsumer | None = None
    task: asyncio.Task[None] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # held while a message is handled and committed
    epoch: int = 0  # bumped on each revocation or rewind; records fetched under an older epoch are refetched
    committed: dict[TopicPartition, int] = field(default_factory=dict)  # next offset, as committed by us
    rewinds: int = 0  # rewind() calls: a batch left after one must not seek back over the rewind

    async def start_consumer(self, config: KafkaConfig, partitions: list[int] | None = None) -> None:
        """Start this subscription's consumer: a group member, or (broadcast) assigned `partitions` from
        their end."""
        options = config.client_options
        if self.group is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=config.bootstrap,
                client_id=config.client_id,
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="latest",
                fetch_max_wait_ms=config.fetch_max_wait_ms,
                **options,
            )
            self.consumer = consumer
            await consumer.start()
            assigned = [TopicPartition(self.topic, p) for p in sorted(partitions or ())]
            consumer.assign(assigned)
            if not await consumer.seek_to_end(*assigned):
                raise KafkaError(f"could not find the end of {self.topic!r}")
            for tp in assigned:
                await consumer.position(tp)  # pin "now": later messages are the ones this replica sees
            return
        session_ms = int(config.session_timeout_s * 1000)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=config.bootstrap,
            client_id=config.client_id,
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=config.fetch_max_wait_ms,
            session_timeout_ms=session_ms,
            heartbeat_interval_ms=max(session_ms // 3, 100),
            request_timeout_ms=max(int(config.request_timeout_s * 1000), session_ms + 1000),
            # A member learns that its topic appeared (created again after a wipe) from metadata; aiokafka's
            # default refresh of 5 minutes would leave it without partitions that long.
            metadata_max_age_ms=_METADATA_MAX_AGE_MS,
            **options,
        )
        consumer.subscribe([self.topic], listener=_RebalanceListener(self, config.request_timeout_s))
        self.consumer = consumer
        await consumer.start()

    async def consume(self, stopping: asyncio.Event, config: KafkaConfig) -> None:
        """Fetch and handle until `stopping` is set; never lets an exception end the loop."""
        consumer = self.consumer
        assert consumer is not None
        backoff = config.retry_backoff_s
        while not stopping.is_set():
            try:
                batch = await consumer.getmany(timeout_ms=_POLL_MS, max_records=_MAX_RECORDS)
                failed = await self._handle_batch(batch, stopping)
            except Exception:
                log.exception("consumer loop error; retrying", topic=self.topic, group=self.group)
                failed = True
            if failed:
                await sleep_unless(stopping, backoff)
                backoff = min(backoff * 2, config.max_retry_backoff_s)
            else:
                backoff = config.retry_backoff_s

    async def rewind(self, timeout_s: float) -> None:
        """Move to the earliest offset of each partition held; drops batches in flight."""
        consumer = self.consumer
        if consumer is None:
            return
        async with self.lock:
            self.epoch += 1
            self.rewinds += 1
            self.committed.clear()
            assigned = sorted(consumer.assignment())
            if assigned:
                async with asyncio.timeout(timeout_s):
                    await consumer.seek_to_beginning(*assigned)
        log.error(
            "consumer resumes from the earliest offset",
            topic=self.topic,
            group=self.group or "(broadcast)",
            partitions=[tp.partition for tp in assigned],
        )

    async def check_committed(self, assigned: set[TopicPartition], timeout_s: float) -> None:
        """After an assignment: learn the committed offsets (for lag) and report any this process committed
        that the broker no longer has."""
        consumer = self.consumer
        if consumer is None:
            return
        lost: list[int] = []
        for tp in sorted(assigned):
            try:
                async with asyncio.timeout(timeout_s):
                    committed = await consumer.committed(tp)
            except (KafkaError, OSError, TimeoutError):
                return  # lag stays unknown for now; the next assignment tries again
            if committed is None:
                if tp in self.committed:
                    lost.append(tp.partition)
                self.committed.pop(tp, None)
            else:
                self.committed[tp] = committed
        if lost:
            log.error(
                "committed offsets are gone from the broker; resuming from the earliest offset",
                topic=self.topic,
                group=self.group,
                partitions=lost,
                hint="events the broker forgot are lost to the bus: taskstream outbox replay --since <time>",
            )

    async def lag(self, timeout_s: float) -> int | None:
        """Messages on the broker not yet handled and committed over the partitions held (None: no group).

        The end offset of each partition (asked of the broker now; the high watermark of the last fetch
        when it does not answer) minus the offset committed (the fetch position where nothing is yet)."""
        consumer = self.consumer
        if consumer is None or self.group is None:
            return None
        assigned = sorted(consumer.assignment())
        try:
            async with asyncio.timeout(timeout_s):
                ends = await consumer.end_offsets(assigned) if assigned else {}
        except (KafkaError, OSError, TimeoutError):
            ends = {tp: consumer.highwater(tp) for tp in assigned}
        total = 0
        for tp in assigned:
            end = ends.get(tp)
            done = self.committed.get(tp)
            if done is None:
                try:
                    async with asyncio.timeout(1.0):
                        done = await consumer.position(tp)
                except (KafkaError, TimeoutError):
                    continue
            if end is not None:
                total += max(end - done, 0)
        return total

    async def _handle_batch(
        self, batch: dict[TopicPartition, list[ConsumerRecord[Any, Any]]], stopping: asyncio.Event
    ) -> bool:
        """Handle the fetch partition by partition; True if a handler failed (its partition was rewound).

        getmany() moved each partition's position past its whole batch. When the fetch is left early (a
        rebalance or a failed commit made it stale, stop(), an error), each partition still held goes back
        to its first unhandled record: else the next fetch would go on after records nobody handled, and a
        commit of a later offset would skip them for good. (A member whose session expired while the
        broker was down commits with no generation, and the broker accepts that while the group is empty.)
        After a rewind the rewind's position stands.
        """
        epoch, rewinds = self.epoch, self.rewinds
        failed = False
        unhandled = {tp: records[0].offset for tp, records in batch.items() if records}
        # Batch handlers take a partition's records at once; others get them one by one, each committed.
        batched = all(isinstance(handler, BatchHandler) for handler in self.handlers)
        try:
            for tp, records in batch.items():
                for chunk in [records] if batched else [[record] for record in records]:
                    outcome = await self._handle_records(tp, chunk, epoch, stopping)
                    if outcome is _Outcome.FAILED:
                        failed = True  # sought back to the chunk's first record; the rest waits for the retry
                        break
                    if outcome is not _Outcome.DONE:
                        return failed
                    unhandled[tp] = chunk[-1].offset + 1
                unhandled.pop(tp, None)
        finally:
            if self.rewinds == rewinds:
                self._seek_back(unhandled)
        return failed

    def _seek_back(self, unhandled: dict[TopicPartition, int]) -> None:
        consumer = self.consumer
        assert consumer is not None
        held = consumer.assignment()
        for tp, offset in unhandled.items():
            if tp in held:
                consumer.seek(tp, offset)

    async def _handle_records(
        self, tp: TopicPartition, records: list[ConsumerRecord[Any, Any]], epoch: int, stopping: asyncio.Event
    ) -> _Outcome:
        """Consecutive records of one partition, to each handler at once (messaging.bus.deliver), then one
        commit after the last: a crash repeats at most these, and the inbox makes a repeat harmless."""
        consumer = self.consumer
        assert consumer is not None
        async with self.lock:
            if stopping.is_set():
                return _Outcome.STOPPING
            if self.epoch != epoch:
                return _Outcome.STALE
            messages = [_to_message(record) for record in records]
            try:
                for handler in self.handlers:
                    await deliver(handler, messages)
            except Exception:
                log.warning(
                    "handler failed; will retry the messages",
                    topic=tp.topic,
                    partition=tp.partition,
                    offsets=f"{records[0].offset}-{records[-1].offset}",
                    group=self.group,
                    exc_info=True,
                )
                consumer.seek(tp, records[0].offset)
                return _Outcome.FAILED
            if self.group is not None:
                await self._commit(tp, records[-1].offset + 1)
            return _Outcome.DONE

    async def _commit(self, tp: TopicPartition, next_offset: int) -> None:
        consumer = self.consumer
        assert consumer is not None
        try:
            await consumer.commit({tp: OffsetAndMetadata(next_offset, "")})
        except CommitFailedError:
            log.info(
                "commit lost to a rebalance; the new owner redelivers", topic=tp.topic, partition=tp.partition
            )
            self.epoch += 1
            return
        except KafkaError as exc:
            # The next successful commit on this partition covers this one; until then a restart redelivers.
            log.warning("offset commit failed", topic=tp.topic, partition=tp.partition, error=repr(exc))
            return
        self.committed[tp] = next_offset


class _RebalanceListener(ConsumerRebalanceListener):
    """Lets the in-flight message finish and commit before the group takes partitions away; on assignment,
    notices committed offsets that vanished (the broker forgot them)."""

    def __init__(self, subscription: Subscription, timeout_s: float) -> None:
        self._subscription = subscription
        self._timeout_s = timeout_s

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
        await self._subscription.check_committed(assigned, self._timeout_s)


def _to_message(record: ConsumerRecord[Any, Any]) -> Message:
    key = record.key.decode("utf-8", "replace") if record.key is not None else ""
    headers = {name: (value or b"").decode("utf-8", "replace") for name, value in record.headers}
    return Message(topic=record.topic, key=key, value=record.value or b"", headers=headers)

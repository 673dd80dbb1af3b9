"""The outbox relay: order per partition key under publish failures, and several relays on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select
from typer.testing import CliRunner, Result

from taskstream.cli.main import app
from taskstream.domain.clock import FixedClock
from taskstream.events.envelope import make_event
from taskstream.events.payloads import TASK_CREATED
from taskstream.events.topics import TASK_EVENTS
from taskstream.messaging.bus import BusHealth, BusUnavailable, Handler, Message, PartialPublish
from taskstream.runtime import Runtime
from taskstream.settings import Settings
from taskstream.store.tables import InboxRow, OutboxRow
from tests.conftest import make_settings

KEYS = ("user-a", "user-b", "user-c")


class RecordingBus:
    """Keeps what it accepted; `fail_after=k` accepts k messages of the next publish, then fails."""

    def __init__(self, *, delay_s: float = 0.0) -> None:
        self.accepted: list[Message] = []
        self.fail_after: int | None = None
        self.delay_s = delay_s
        self.in_flight = 0
        self.overlaps = 0  # publishes that started while another was running (must stay 0 with one leader)

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def subscribe(self, topic: str, *, group: str | None, handler: Handler) -> None: ...

    def health(self) -> BusHealth:
        return BusHealth(ok=True, message="recording")

    async def lag(self) -> dict[tuple[str, str], int]:
        return {}

    async def publish(self, messages: Sequence[Message]) -> None:
        self.overlaps += self.in_flight > 0
        self.in_flight += 1
        try:
            await asyncio.sleep(self.delay_s)
            if self.fail_after is None:
                self.accepted.extend(messages)
                return
            confirmed, self.fail_after = self.fail_after, None
            self.accepted.extend(messages[:confirmed])
            if confirmed == 0:
                raise BusUnavailable("broker down")
            raise PartialPublish("broker went away mid-batch", confirmed=confirmed)
        finally:
            self.in_flight -= 1


def _ids(messages: Sequence[Message]) -> list[str]:
    return [json.loads(m.value)["id"] for m in messages]


def _by_key(messages: Sequence[Message]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for message in messages:
        grouped[message.key].append(json.loads(message.value)["id"])
    return dict(grouped)


async def _append(runtime: Runtime, count: int, clock: FixedClock) -> list[Message]:
    """`count` events interleaved over KEYS, appended to the outbox in one transaction each; in id order."""
    for n in range(count):
        async with runtime.uow() as uow:
            key = KEYS[n % len(KEYS)]
            event = make_event(
                TASK_CREATED, subject=f"t{n}", partitionkey=key, data={"n": n}, time=clock.now()
            )
            uow.outbox.append(event, TASK_EVENTS)
            await uow.commit()
    async with runtime.uow() as uow:
        rows = await uow.session.scalars(select(OutboxRow).order_by(OutboxRow.id))
        return [Message(r.topic, r.key, r.payload.encode()) for r in rows]


async def _sent_ids(runtime: Runtime) -> list[str]:
    async with runtime.uow() as uow:
        rows = await uow.session.scalars(select(OutboxRow).where(OutboxRow.sent_at.is_not(None)))
        return [r.event_id for r in rows]


@pytest.fixture
async def relay_runtime(settings: Settings, clock: FixedClock) -> AsyncIterator[tuple[Runtime, RecordingBus]]:
    """A relay-only runtime (loops off) publishing to a RecordingBus."""
    bus = RecordingBus()
    runtime = Runtime(settings, services=("relay",), clock=clock, bus=bus)
    await runtime.start(background=False)
    try:
        yield runtime, bus
    finally:
        await runtime.stop()


async def test_a_failed_publish_marks_only_the_confirmed_prefix_and_resumes_there(
    relay_runtime: tuple[Runtime, RecordingBus], clock: FixedClock
) -> None:
    runtime, bus = relay_runtime
    written = await _append(runtime, 10, clock)
    topics = sorted({row.topic for row in written})
    failures_before, relayed_before = _per_topic(RELAY_FAILURES, topics), _per_topic(RELAYED, topics)

    bus.fail_after = 0  # broker down: nothing confirmed, nothing marked
    with pytest.raises(BusUnavailable):
        await runtime.relay.drain_once()
    assert await _sent_ids(runtime) == []

    bus.fail_after = 4  # the first four confirmed, then the connection dropped
    with pytest.raises(PartialPublish):
        await runtime.relay.drain_once()
    assert sorted(await _sent_ids(runtime)) == sorted(_ids(written[:4]))
    failed = sum(_per_topic(RELAY_FAILURES, topics).values()) - sum(failures_before.values())
    assert failed == 10 + 6  # every row of the refused attempt, then the six left unconfirmed

    assert await runtime.relay.drain_once() == 6  # resumes at the first unconfirmed row
    relayed = sum(_per_topic(RELAYED, topics).values()) - sum(relayed_before.values())
    assert relayed == 10  # each row counted once, when confirmed
    assert await runtime.relay.drain_once() == 0
    assert _ids(bus.accepted) == _ids(written)  # each once, in id order: per key in commit order
    assert _by_key(bus.accepted) == _by_key(written)


RELAY_FAILURES = "taskstream_relay_publish_failures_total"
RELAYED = "taskstream_events_relayed_total"


def _per_topic(metric: str, topics: list[str]) -> dict[str, float]:
    return {topic: REGISTRY.get_sample_value(metric, {"topic": topic}) or 0.0 for topic in topics}


async def test_sent_rows_are_cleaned_in_batches_after_the_retention(
    relay_runtime: tuple[Runtime, RecordingBus], clock: FixedClock
) -> None:
    runtime, _ = relay_runtime
    await _append(runtime, 5, clock)
    assert await runtime.relay.drain_once() == 5
    assert await runtime.relay.cleanup() == 0  # sent just now: kept for the retention period
    clock.advance(timedelta(days=6, hours=23))
    assert await runtime.relay.cleanup() == 0  # the default retention is 7 days, for `outbox replay`
    clock.advance(timedelta(hours=2))
    await _append(runtime, 2, clock)  # unsent rows are never cleaned
    assert await runtime.relay.cleanup() == 5
    async with runtime.uow() as uow:
        assert (await uow.outbox.backlog())[0] == 2


async def test_inbox_rows_are_forgotten_in_batches_once_no_redelivery_can_come(
    relay_runtime: tuple[Runtime, RecordingBus], clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, _ = relay_runtime
    monkeypatch.setattr("taskstream.messaging.relay.CLEANUP_BATCH", 3)  # several batches of one pass
    start = clock.now()
    async with runtime.uow() as uow:
        for n in range(7):  # one a minute
            uow.inbox.record_unflushed("audit", f"old-{n}", start + timedelta(minutes=n))
        await uow.commit()
    clock.advance(timedelta(days=13, hours=23))
    async with runtime.uow() as uow:
        uow.inbox.record_unflushed("audit", "recent", clock.now())
        await uow.commit()
    await runtime.relay.cleanup()
    assert await _inbox_ids(runtime) == {*(f"old-{n}" for n in range(7)), "recent"}  # 14 days not yet over
    clock.set(start + timedelta(days=14, minutes=4, seconds=30))
    await runtime.relay.cleanup()
    assert await _inbox_ids(runtime) == {"old-5", "old-6", "recent"}  # processed more than 14 days ago: gone
    clock.advance(timedelta(days=1))
    await runtime.relay.cleanup()
    assert await _inbox_ids(runtime) == {"recent"}


async def _inbox_ids(runtime: Runtime) -> set[str]:
    async with runtime.uow() as uow:
        return set(await uow.session.scalars(select(InboxRow.event_id)))


def test_the_inbox_must_outlive_the_outbox(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="inbox_retention must be at least outbox_retention"):
        Settings(data_dir=tmp_path, outbox_retention="P10D", inbox_retention="P7D")
    assert Settings(
        data_dir=tmp_path, inbox_retention="3600", outbox_retention="60"
    ).inbox_retention == timedelta(hours=1)


async def test_outbox_replay_publishes_the_rows_sent_since_a_time_again_after_the_unsent_ones(
    relay_runtime: tuple[Runtime, RecordingBus], clock: FixedClock, settings: Settings
) -> None:
    runtime, bus = relay_runtime
    first = await _append(runtime, 6, clock)
    assert await runtime.relay.drain_once() == 6
    clock.advance(timedelta(minutes=5))
    since = clock.now()
    both = await _append(runtime, 4, clock)  # ten rows now, the last four sent at `since`
    assert await runtime.relay.drain_once() == 4
    later = await _append(runtime, 2, clock)  # written after, not sent yet
    url = settings.resolved_database_url()

    def replay(*args: str) -> Result:
        return CliRunner().invoke(app, ["outbox", "replay", *args, "--database-url", url])

    bad = await asyncio.to_thread(replay, "--since", "2026-03-02T08:05:00")  # no offset
    dry = await asyncio.to_thread(replay, "--since", since.isoformat(), "--dry-run")
    assert await runtime.relay.drain_once() == 2  # the dry run changed nothing
    done = await asyncio.to_thread(replay, "--since", since.isoformat(), "--topic", TASK_EVENTS)
    assert await runtime.relay.drain_once() == 6  # the six rows sent since then, again, in id order

    assert bad.exit_code == 2 and "offset" in bad.output, bad.output
    assert dry.exit_code == 0 and "Would replay 4 events" in dry.output, dry.output
    assert done.exit_code == 0 and f"Replaying 6 events sent since {since.isoformat()}" in done.output
    ids = _ids(bus.accepted)
    assert ids == _ids(first) + _ids(both[6:]) + _ids(later[10:]) + _ids(both[6:]) + _ids(later[10:])


@pytest.mark.postgres
async def test_several_relays_on_postgres_send_each_row_once_in_order(
    tmp_path: Path, clock: FixedClock, pg_url: str
) -> None:
    """The leader lock is PostgreSQL's; on SQLite one relay process runs."""
    settings = make_settings(tmp_path, pg_url)
    bus = RecordingBus(delay_s=0.005)
    relays = [
        Runtime(
            settings.model_copy(update={"relay_batch_size": 25, "relay_poll_s": 0.02}),
            services=("relay",),
            clock=clock,
            bus=bus,
        )
        for _ in range(3)
    ]
    for relay in relays:
        await relay.start(background=False)
    try:
        written = await _append(relays[0], 300, clock)
        loops = [asyncio.create_task(r.relay.run()) for r in relays]
        async with asyncio.timeout(30):
            while len(bus.accepted) < len(written):  # noqa: ASYNC110 - the relays run on their own
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # a second send would show up now
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        assert _ids(bus.accepted) == _ids(written)  # each once, in id order
        assert bus.overlaps == 0  # one leader publishes at a time
        assert sum(r.relay.sent for r in relays) == len(written)
    finally:
        for relay in relays:
            await relay.stop()


@pytest.mark.parametrize(
    ("since", "says"),
    [
        ("0001-01-01T00:00:00+01:00", "between the years 1 and 9999"),
        ("9999-12-31T23:59:59-01:00", "between the years 1 and 9999"),
        ("2026-W48-1T10:00Z", "not an RFC 3339 date-time"),
        ("2026-12-01 10:00Z", "not an RFC 3339 date-time"),
        ("yesterday", "not an RFC 3339 date-time"),
    ],
)
def test_outbox_replay_refuses_what_is_not_an_rfc3339_instant(since: str, says: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["outbox", "replay", "--since", since, "--database-url", "sqlite://"])
    assert result.exit_code == 2 and says in " ".join(result.output.split()), result.output


def test_outbox_replay_names_the_database_it_cannot_use_and_creates_none(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.db"
    since = "2026-12-01T10:00:00Z"
    no_file = CliRunner().invoke(
        app, ["outbox", "replay", "--since", since, "--database-url", f"sqlite+aiosqlite:///{missing}"]
    )
    garbage = CliRunner().invoke(app, ["outbox", "replay", "--since", since, "--database-url", "garbage"])
    assert no_file.exit_code == 1 and str(missing) in no_file.output, no_file.output
    assert not missing.exists()
    assert garbage.exit_code == 2 and "not a database URL" in garbage.output, garbage.output


@pytest.mark.postgres
def test_outbox_replay_names_a_missing_postgres_database(pg_url: str) -> None:
    url = pg_url.rsplit("/", 1)[0] + "/no_such_database_here"
    result = CliRunner().invoke(
        app, ["outbox", "replay", "--since", "2026-12-01T10:00:00Z", "--database-url", url]
    )
    assert result.exit_code == 1, result.output
    assert "no_such_database_here cannot be read" in result.output and "Traceback" not in result.output

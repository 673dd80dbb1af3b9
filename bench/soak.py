"""Benchmark 8: a soak. Embedded `taskstream up` under steady mixed traffic (creates, recurring completions,
lists, searches, edits, deletes: the open tasks stay about constant) for 10 minutes (`--quick`: 4), with the
outbox and inbox retentions cut to 60 s so that their cleanup (every 30 s) has to keep up within the run.
Every tenth of the run it prints the server's RSS, the outbox, inbox and task rows, and the latency of that
slice. After the warm-up (the first two minutes: a retention and two cleanups) it says whether RSS stayed
within 5 MiB and whether the cleanup kept up: the oldest sent outbox row and the oldest inbox row never older
than the retention plus one cleanup period and a margin (the row counts themselves are a sawtooth between 60
and 90 seconds of traffic, depending on where a sample falls in the cleanup's period)."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from bench.common import Options, Row, Server, ms, percentile, rss_mb, sign_up

RSS_FLAT_MIB = 5.0
RATE = 40  # requests per second, spread evenly
RETENTION_S = 60
CLEANUP_EVERY_S = 30  # the relay's cleanup period
KEPT_AT_MOST_S = RETENTION_S + CLEANUP_EVERY_S + 15  # the oldest row a keeping-up cleanup leaves
WARM_UP_S = 120.0  # a retention and two cleanups: then the outbox and inbox are at their level


@dataclass
class Slice:
    """One tenth of the run: what was measured at its end, and the latencies within it."""

    at_s: float
    rss_mib: float
    outbox: int
    inbox: int
    tasks: int
    oldest_sent_s: float  # age of the oldest sent outbox row still kept
    oldest_inbox_s: float
    latencies: list[float] = field(default_factory=list)


class Traffic:
    """The mixed requests of one user; keeps the ids of its open tasks (those it made and those its lists
    show, such as the next occurrences of completed series), so the open tasks stay about constant."""

    def __init__(self, http: httpx.AsyncClient, seed: int) -> None:
        self.http = http
        self.open: list[str] = []
        self.random = random.Random(seed)
        self.n = 0

    async def one(self) -> None:
        self.n += 1
        roll = self.random.random()
        if len(self.open) < 40 or (roll < 0.3 and len(self.open) < 80):  # next occurrences add to the pool
            recurring = {"recurrence": "FREQ=DAILY", "due_date": "2030-01-01"} if self.n % 4 == 0 else {}
            body = {"title": f"soak task {self.n} invoice", "tags": ["soak"], **recurring}
            answer = await self.http.post("/api/v1/tasks", json=body)
            answer.raise_for_status()
            self.open.append(answer.json()["id"])
        elif roll < 0.45:  # (and a create that a full pool turned down)
            task_id = self.open.pop(self.random.randrange(len(self.open)))
            (await self.http.post(f"/api/v1/tasks/{task_id}/complete")).raise_for_status()
            (await self.http.delete(f"/api/v1/tasks/{task_id}")).raise_for_status()
        elif roll < 0.6:
            task_id = self.open.pop(self.random.randrange(len(self.open)))
            (await self.http.delete(f"/api/v1/tasks/{task_id}")).raise_for_status()
        elif roll < 0.7:
            task_id = self.random.choice(self.open)
            answer = await self.http.patch(f"/api/v1/tasks/{task_id}", json={"priority": "high"})
            answer.raise_for_status()
        elif roll < 0.85:  # a list also shows the next occurrences the recurring service made: tracked too
            answer = await self.http.get("/api/v1/tasks", params={"limit": 50, "completed": "false"})
            answer.raise_for_status()
            known = set(self.open)
            self.open += [t["id"] for t in answer.json()["items"] if t["id"] not in known]
        else:
            (await self.http.get("/api/v1/tasks", params={"q": "invoice", "limit": 50})).raise_for_status()


def _tables(server: Server) -> tuple[int, int, int, float, float]:
    """Rows of outbox, inbox and tasks, and the ages (s) of the oldest sent outbox row and inbox row."""
    path = f"file:{server.data_dir / 'taskstream.db'}?mode=ro"
    with closing(sqlite3.connect(path, uri=True, timeout=10)) as db:
        outbox, inbox, tasks = (
            db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("outbox", "inbox", "tasks")
        )
        sent = db.execute("SELECT min(sent_at) FROM outbox WHERE sent_at IS NOT NULL").fetchone()[0]
        seen = db.execute("SELECT min(processed_at) FROM inbox").fetchone()[0]
    now = datetime.now(UTC)

    def age(stamp: str | None) -> float:  # SQLite holds naive UTC
        return (now - datetime.fromisoformat(stamp).replace(tzinfo=UTC)).total_seconds() if stamp else 0.0

    return outbox, inbox, tasks, age(sent), age(seen)


async def run(opts: Options) -> list[Row]:
    duration_s = 240.0 if opts.quick else 600.0
    env = {"TASKSTREAM_OUTBOX_RETENTION": str(RETENTION_S), "TASKSTREAM_INBOX_RETENTION": str(RETENTION_S)}
    server = Server(opts.workdir, name="soak", env=env)
    await server.start()
    slices: list[Slice] = []
    try:
        users = [await sign_up(server.base) for _ in range(4)]
        clients = [httpx.AsyncClient(base_url=server.base, headers=h, timeout=30) for h in users]
        traffic = [Traffic(c, seed) for seed, c in enumerate(clients)]
        started = time.perf_counter()
        latencies: list[float] = []
        next_slice = duration_s / 10
        sent = 0
        while (elapsed := time.perf_counter() - started) < duration_s:
            due = started + sent / RATE
            if due > time.perf_counter():
                await asyncio.sleep(due - time.perf_counter())
            t0 = time.perf_counter()
            await traffic[sent % len(traffic)].one()
            latencies.append(time.perf_counter() - t0)
            sent += 1
            if elapsed >= next_slice:
                outbox, inbox, tasks, sent_age, seen_age = _tables(server)
                rss = rss_mb(server.pid) or 0.0
                slices.append(Slice(elapsed, rss, outbox, inbox, tasks, sent_age, seen_age, latencies))
                latencies = []
                line = slices[-1]
                print(
                    f"  soak {line.at_s:5.0f} s: RSS {line.rss_mib:6.1f} MiB · outbox {outbox}"
                    f" · inbox {inbox} · oldest kept {sent_age:.0f} s / {seen_age:.0f} s · tasks {tasks}"
                    f" · p50 {ms(percentile(line.latencies, 50)):.1f} ms"
                    f" · p99 {ms(percentile(line.latencies, 99)):.1f} ms · n={len(line.latencies)}",
                    flush=True,
                )
                next_slice += duration_s / 10
        for client in clients:
            await client.aclose()
    finally:
        server.stop()
    return _verdict(slices, duration_s)


def _verdict(slices: list[Slice], duration_s: float) -> list[Row]:
    rest = [s for s in slices if s.at_s >= WARM_UP_S]
    rss = [s.rss_mib for s in rest]
    spread = max(rss) - min(rss)
    per_slice = " → ".join(f"{s.rss_mib:.0f}" for s in slices)
    rows = [
        Row(
            bench="8 soak",
            figure=f"RSS over {duration_s / 60:.0f} min, after a {WARM_UP_S / 60:.0f} min warm-up (spread)",
            value=spread,
            unit="MiB",
            detail=f"per tenth: {per_slice} MiB",
            target=f"≤ {RSS_FLAT_MIB:.0f} MiB",
            met=spread <= RSS_FLAT_MIB,
            lower_is_better=True,
        )
    ]
    for table, attribute in (("outbox", "oldest_sent_s"), ("inbox", "oldest_inbox_s")):
        oldest = max(getattr(s, attribute) for s in rest)
        rows.append(
            Row(
                bench="8 soak",
                figure=f"oldest {table} row kept, after the warm-up (retention {RETENTION_S} s)",
                value=oldest,
                unit="s",
                detail=f"{table} rows per tenth: " + " → ".join(str(getattr(s, table)) for s in slices),
                target=f"≤ {KEPT_AT_MOST_S} s (retention + cleanup period + 15 s)",
                met=oldest <= KEPT_AT_MOST_S,
                lower_is_better=True,
            )
        )
    every = [x for s in rest for x in s.latencies]
    first, last = rest[0].latencies, rest[-1].latencies
    rows.append(
        Row(
            bench="8 soak",
            figure="request latency p99, after the warm-up",
            value=ms(percentile(every, 99)),
            unit="ms",
            detail=f"p50 {ms(percentile(every, 50)):.1f} ms · p99 of the first slice "
            f"{ms(percentile(first, 99)):.1f} ms, of the last {ms(percentile(last, 99)):.1f} ms · "
            f"n={len(every)} at {RATE} req/s",
            lower_is_better=True,
        )
    )
    return rows

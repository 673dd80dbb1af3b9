"""Benchmark 1 (API throughput and latency against the real server, with the bare-stack ceiling) and
benchmark 6 (RSS idle and under that load, start-up time to ready on an existing database)."""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
from datetime import UTC, datetime, timedelta

import httpx

from bench.common import Options, Row, Server, create_pg_database, drop_pg_database, median, pg_url, sign_up
from bench.common import tree_rss_mb as rss_of
from bench.load import Exhausted, LoadResult, Request, combine, run_load

LEVELS = (1, 16, 64)
OPS = ("create", "complete", "list", "search")
WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
SEARCH_TERM = "charlie"  # one task in eight carries it
CREATE_TARGET = 0.40  # create @64 ≥ 40 % of the bare endpoint
IDLE_RSS_TARGET_MB = 150.0
STARTUP_TARGET_S = 2.0


class Workload:
    """Request factories for the four operations of one signed-in user; completes draw on created ids."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers
        self.counter = itertools.count()
        self.open_ids: collections.deque[str] = collections.deque()
        self.due = datetime.now(UTC) + timedelta(days=3)
        self.sample_task: dict[str, object] | None = None
        self.sample_page: dict[str, object] | None = None

    def body(self) -> dict[str, object]:
        n = next(self.counter)
        return {
            "title": f"Bench {WORDS[n % len(WORDS)]} task number {n}",
            "description": "Written by the benchmark; a short description of typical length.",
            "priority": ("none", "low", "medium", "high")[n % 4],
            "tags": ["bench", WORDS[n % 3]],
            "due_at": (self.due + timedelta(minutes=n)).isoformat(),
        }

    async def create(self, http: httpx.AsyncClient) -> httpx.Response:
        response = await http.post("/api/v1/tasks", json=self.body())
        if response.status_code == 201:
            self.open_ids.append(response.json()["id"])
        return response

    async def complete(self, http: httpx.AsyncClient) -> httpx.Response:
        if not self.open_ids:
            raise Exhausted
        return await http.post(f"/api/v1/tasks/{self.open_ids.popleft()}/complete")

    async def list(self, http: httpx.AsyncClient) -> httpx.Response:
        return await http.get("/api/v1/tasks", params={"limit": 50})

    async def search(self, http: httpx.AsyncClient) -> httpx.Response:
        return await http.get("/api/v1/tasks", params={"q": SEARCH_TERM, "limit": 50})

    def request(self, op: str) -> Request:
        return getattr(self, op)


class RssSampler:
    """Samples the RSS of a process tree every `every_s` seconds in the background; keeps the peak."""

    def __init__(self, pid: int, every_s: float = 0.1) -> None:
        self.pid = pid
        self.every_s = every_s
        self.peak = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            value = rss_of(self.pid)
            if value is not None:
                self.peak = max(self.peak, value)
            await asyncio.sleep(self.every_s)

    def __enter__(self) -> RssSampler:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def _seed_via_api(base: str, work: Workload, count: int) -> None:
    """Create `count` tasks (untimed) so list and search have pages to fill."""
    async with httpx.AsyncClient(base_url=base, headers=work.headers, timeout=60) as http:
        for start in range(0, count, 16):
            await asyncio.gather(*(work.create(http) for _ in range(min(16, count - start))))
        work.sample_task = (await http.get(f"/api/v1/tasks/{work.open_ids[0]}")).json()
        work.sample_page = (await http.get("/api/v1/tasks", params={"limit": 50})).json()


class Ceiling:
    """The bare FastAPI + uvicorn app (bench/ceiling_app.py) in its own process, serving captured samples."""

    def __init__(self, opts: Options, work: Workload) -> None:
        samples = opts.workdir / "ceiling-samples.json"
        samples.write_text(json.dumps({"task": work.sample_task, "page": work.sample_page}))
        self.server = Server(
            opts.workdir, name="ceiling", argv=["-m", "bench.ceiling_app", "--samples", str(samples)]
        )
        body = work.body()
        page: Request = lambda http: http.get("/page", params={"limit": 50})  # noqa: E731
        self.requests: dict[str, Request] = {
            "create": lambda http: http.post("/task", json=body),
            "complete": lambda http: http.post("/done"),
            "list": page,
            "search": page,
        }


async def measure(
    server: Server, opts: Options, *, label: str, rss: bool
) -> tuple[dict[tuple[str, int], tuple[LoadResult, LoadResult]], Workload, float, float]:
    """Every op at every level against the started server, alternating with the same load on the ceiling
    in `rounds` windows each (the machine is noisy: both sides meet the same drift). Returns (app, ceiling)
    results per (op, level), the workload, the idle RSS and the peak RSS under load (MiB)."""
    # Seconds measured per round, warm-up per round, rounds.
    duration, warmup, rounds = (1.0, 0.3, 1) if opts.quick else (1.0, 0.5, 3)
    work = Workload(await sign_up(server.base))
    await _seed_via_api(server.base, work, 200 if opts.quick else 500)
    await asyncio.sleep(1.0)  # let the relay and consumers settle before the idle reading
    idle = (rss_of(server.pid) or float("nan")) if rss else float("nan")
    ceiling = Ceiling(opts, work)
    await ceiling.server.start()
    results: dict[tuple[str, int], tuple[LoadResult, LoadResult]] = {}
    try:
        with RssSampler(server.pid) as sampler:
            for op in OPS:
                for level in LEVELS:
                    apps, tops = [], []
                    for _ in range(rounds):
                        apps.append(
                            await run_load(
                                server.base,
                                work.request(op),
                                concurrency=level,
                                duration_s=duration,
                                warmup_s=warmup,
                                headers=work.headers,
                            )
                        )
                        tops.append(
                            await run_load(
                                ceiling.server.base,
                                ceiling.requests[op],
                                concurrency=level,
                                duration_s=duration,
                                warmup_s=warmup,
                            )
                        )
                    app, top = combine(apps), combine(tops)
                    results[(op, level)] = (app, top)
                    print(
                        f"  [{label}] {op:8} @{level:<2} {app.rps:7.1f} req/s vs ceiling {top.rps:7.1f} "
                        f"· {app.detail()}",
                        flush=True,
                    )
    finally:
        ceiling.server.stop()
    return results, work, idle, sampler.peak


def _rows(db: str, results: dict[tuple[str, int], tuple[LoadResult, LoadResult]]) -> list[Row]:
    rows = []
    for op in OPS:
        for level in LEVELS:
            result, top = results[(op, level)]
            row = Row(
                bench="1 API",
                figure=f"{op} @{level} ({db})",
                value=result.rps,
                unit="req/s",
                detail=result.detail(),
                ceiling=top.rps,
            )
            if op == "create" and level == 64:
                row.target = f"≥ {CREATE_TARGET:.0%} of ceiling"
                row.met = row.ratio is not None and row.ratio >= CREATE_TARGET
            rows.append(row)
    return rows


async def startup_on_existing(opts: Options, data_name: str, *, rounds: int) -> list[float]:
    """Seconds from spawning `taskstream up` to /readyz 200, on the database the api benchmark filled."""
    times = []
    for _ in range(rounds):
        server = Server(opts.workdir, name=data_name)
        times.append(await server.start())
        server.stop()
    return times


async def run(opts: Options) -> list[Row]:
    """Benchmarks 1 and 6."""
    rows: list[Row] = []
    server = Server(opts.workdir, name="api-sqlite")
    await server.start()
    try:
        sqlite_results, work, idle, peak = await measure(server, opts, label="sqlite", rss=True)
        tasks_held = next(work.counter)
    finally:
        server.stop()
    rows += _rows("SQLite", sqlite_results)

    if opts.pg:
        name = await create_pg_database()
        try:
            server = Server(opts.workdir, name="api-pg", database_url=pg_url(name))
            await server.start()
            try:
                pg_results, _, _, _ = await measure(server, opts, label="postgres", rss=False)
            finally:
                server.stop()
            rows += _rows("PostgreSQL", pg_results)
        finally:
            await drop_pg_database(name)
    rows[0].note = (
        f"the user holds ~{tasks_held} tasks by the end; ceiling = bench/ceiling_app.py, "
        "measured in the same rounds as each figure, alternating with it"
    )

    startups = await startup_on_existing(opts, "api-sqlite", rounds=2 if opts.quick else 3)
    rows += [
        Row(
            "6 memory",
            "RSS idle (SQLite, after start + 500 tasks)",
            idle,
            "MB",
            target=f"≤ {IDLE_RSS_TARGET_MB:.0f} MB",
            met=idle <= IDLE_RSS_TARGET_MB,
        ),
        Row("6 memory", "RSS peak under benchmark 1 (SQLite)", peak, "MB"),
        Row(
            "6 memory",
            "start-up to ready, existing database",
            median(startups),
            "s",
            detail=f"median of {len(startups)}: " + ", ".join(f"{t:.2f}" for t in startups),
            target=f"≤ {STARTUP_TARGET_S:.0f} s",
            met=median(startups) <= STARTUP_TARGET_S,
        ),
    ]
    return rows

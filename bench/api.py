"""Benchmark 1 (API throughput, latency and server CPU per request, driven by wrk, beside the bare-stack
ceiling) and benchmark 6 (RSS across the rounds of benchmark 1, start-up time to ready on an existing
database)."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench import seed, wrk
from bench.common import (
    JWT_SECRET,
    Options,
    Row,
    Server,
    create_pg_database,
    drop_pg_database,
    median,
    pg_url,
    sign_up,
)
from bench.common import tree_rss_mb as rss_of

LEVELS = (1, 16, 64, 256)
OPS = ("get", "list", "search", "create", "complete")
WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
SEARCH_TERM = "charlie"  # one task in eight carries it
CPU_TARGET_MS = {"get": 1.0, "list": 2.0, "search": 2.5, "create": 1.0, "complete": 2.0}  # at 64 clients
SHARE_TARGET = 0.20  # get, list, search and create at 64 clients, of the bare endpoint's req/s
P99_TARGET_MS = 300.0  # at 64 clients
RSS_DRIFT_TARGET_MB = 10.0  # across the rounds after the first
STARTUP_TARGET_S = 2.0
IDLE_RSS_TARGET_MB = 150.0
COMPLETE_USER = seed.user_id(1)  # holds the open tasks the completes walk through

# Lua for wrk. A create sends a different body each time (the words make `charlie` one task in eight).
_CREATE_LUA = """
local words = {%(words)s}
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
function request()
  n = n + 1
  local body = string.format('{"title": "Bench %%s task number %%d", "description": "Written by the '
    .. 'benchmark; a short description of typical length.", "priority": "%%s", "tags": ["bench", "%%s"], '
    .. '"due_at": "%(due)s"}', words[n %% 8 + 1], n, ({"none", "low", "medium", "high"})[n %% 4 + 1],
    words[n %% 3 + 1])
  return wrk.format(nil, nil, nil, body)
end
"""
# Each thread walks its own stride of the open ids (one id per request); a thread that runs out starts
# again at its first id and says so at the end.
_COMPLETE_LUA = """
local threads = {}
local count = 0
function setup(thread)
  thread:set("first", count + 1)
  count = count + 1
  table.insert(threads, thread)
end
function init(args)
  ids = {}
  for line in io.lines("%(ids)s") do ids[#ids + 1] = line end
  pos = first
  wrapped = 0
end
function request()
  if ids[pos] == nil then pos = first; wrapped = 1 end
  local id = ids[pos]
  pos = pos + %(stride)d
  return wrk.format("POST", "/api/v1/tasks/" .. id .. "/complete")
end
function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    if thread:get("wrapped") == 1 then io.write("open ids exhausted\\n") end
  end
end
"""
_POST_LUA = 'wrk.method = "POST"\n'


@dataclass
class Target:
    """What wrk requests of one system for one operation: the URL and the Lua script (None: plain GET)."""

    url: str
    script: Path | None = None


@dataclass(frozen=True)
class Figure:
    """The medians of one operation at one client count over the rounds; non-2xx and socket errors summed."""

    rps: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float | None
    requests: int
    non_2xx: int
    socket_errors: list[str]
    exhausted: bool

    @classmethod
    def of(cls, runs: list[wrk.WrkResult]) -> Figure:
        cpus = [r.cpu_ms_per_request for r in runs if r.cpu_ms_per_request is not None]
        return cls(
            rps=median([r.rps for r in runs]),
            p50_ms=median([r.p50_ms for r in runs]),
            p99_ms=median([r.p99_ms for r in runs]),
            cpu_ms=median(cpus) if cpus else None,
            requests=sum(r.requests for r in runs),
            non_2xx=sum(r.non_2xx for r in runs),
            socket_errors=[r.socket_errors for r in runs if r.socket_errors],
            exhausted=any("open ids exhausted" in r.output for r in runs),
        )

    def detail(self) -> str:
        text = f"p50 {self.p50_ms:.1f} ms · p99 {self.p99_ms:.1f} ms"
        if self.cpu_ms is not None:
            text += f" · CPU {self.cpu_ms:.2f} ms/req"
        text += f" · n={self.requests} · non-2xx {self.non_2xx}"
        if self.socket_errors:
            text += " · socket errors: " + "; ".join(self.socket_errors)
        return text + (" · ran out of open tasks" if self.exhausted else "")


class Bench:
    """One database's run: the server (`taskstream up`, embedded), its two users and the scripts."""

    def __init__(self, opts: Options, server: Server, label: str) -> None:
        self.opts = opts
        self.server = server
        self.label = label
        self.headers: dict[str, str] = {}
        self.complete_headers: dict[str, str] = {}
        self.create_headers: dict[str, str] = {}
        self.sample_task_id = ""
        self.scripts = opts.workdir / f"wrk-{label}"
        self.scripts.mkdir(exist_ok=True)

    def _script(self, name: str, text: str) -> Path:
        path = self.scripts / f"{name}.lua"
        path.write_text(text)
        return path

    def create_script(self) -> Path:
        due = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0).isoformat()
        words = ", ".join(f'"{w}"' for w in WORDS)
        return self._script("create", _CREATE_LUA % {"words": words, "due": due})

    async def prepare(self) -> None:
        """Sign up the main user with 500 tasks (through the API, 16 at a time), the creating user, and seed
        the completing user's open tasks straight into the tables. Creates go to a user of their own, so the
        main user's lists and searches read the same 500 tasks in every round."""
        self.headers = await sign_up(self.server.base)
        self.create_headers = await sign_up(self.server.base)
        count = 100 if self.opts.quick else 500
        async with httpx.AsyncClient(base_url=self.server.base, headers=self.headers, timeout=60) as http:
            for start in range(0, count, 16):
                batch = [self._body(n) for n in range(start, min(count, start + 16))]
                answers = await asyncio.gather(*(http.post("/api/v1/tasks", json=b) for b in batch))
                for answer in answers:
                    answer.raise_for_status()
            self.sample_task_id = answers[0].json()["id"]
            samples = {
                "task": (await http.get(f"/api/v1/tasks/{self.sample_task_id}")).json(),
                "page": (await http.get("/api/v1/tasks", params={"limit": 50})).json(),
            }
        (self.opts.workdir / "ceiling-samples.json").write_text(json.dumps(samples))
        open_tasks = 5_000 if self.opts.quick else 40_000
        rows = (
            dataclasses.replace(t, completed=False) for t in seed.tasks(COMPLETE_USER, open_tasks, seed=11)
        )
        if self.server.database_url:
            await seed.pg_insert(
                _asyncpg_dsn(self.server.database_url), [COMPLETE_USER], rows, rebuild_indexes=False
            )
        else:
            seed.sqlite_insert(str(self._sqlite_path()), [COMPLETE_USER], rows)
        from taskstream.features.accounts.tokens import Tokens

        token = Tokens(JWT_SECRET, ttl_s=86400).issue(COMPLETE_USER, COMPLETE_USER, now=datetime.now(UTC))
        self.complete_headers = {"Authorization": f"Bearer {token}"}

    @staticmethod
    def _body(n: int) -> dict[str, object]:
        return {
            "title": f"Bench {WORDS[n % len(WORDS)]} task number {n}",
            "priority": ("none", "low", "medium", "high")[n % 4],
            "tags": ["bench", WORDS[n % 3]],
        }

    def _sqlite_path(self) -> Path:
        return self.server.data_dir / "taskstream.db"

    async def open_ids(self) -> list[str]:
        """The completing user's open tasks now (read from the database: every complete hits one)."""
        sql = "SELECT id FROM tasks WHERE user_id = %s AND NOT completed ORDER BY id"
        if self.server.database_url:
            import asyncpg

            db = await asyncpg.connect(_asyncpg_dsn(self.server.database_url))
            try:
                return [r["id"] for r in await db.fetch(sql % "$1", COMPLETE_USER)]
            finally:
                await db.close()
        with sqlite3.connect(self._sqlite_path(), timeout=30) as db:
            return [r[0] for r in db.execute(sql % "?", (COMPLETE_USER,))]

    async def app_target(self, op: str, connections: int) -> tuple[Target, dict[str, str]]:
        base = self.server.base + "/api/v1/tasks"
        if op == "get":
            return Target(f"{base}/{self.sample_task_id}"), self.headers
        if op == "list":
            return Target(f"{base}?limit=50"), self.headers
        if op == "search":
            return Target(f"{base}?q={SEARCH_TERM}&limit=50"), self.headers
        if op == "create":
            return Target(base, self.create_script()), self.create_headers
        ids = self.scripts / "open-ids.txt"
        ids.write_text("\n".join(await self.open_ids()) + "\n")
        stride = wrk.threads_for(connections)
        script = self._script("complete", _COMPLETE_LUA % {"ids": ids, "stride": stride})
        return Target(self.server.base, script), self.complete_headers


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _ceiling_targets(base: str, create_script: Path, workdir: Path) -> dict[str, Target]:
    post = workdir / "post.lua"
    post.write_text(_POST_LUA)
    return {
        "get": Target(f"{base}/task"),
        "list": Target(f"{base}/page"),
        "search": Target(f"{base}/page"),
        "create": Target(f"{base}/task", create_script),
        "complete": Target(f"{base}/done", post),
    }


async def measure(
    bench: Bench, *, levels: tuple[int, ...] = LEVELS, duration_s: float | None = None
) -> tuple[dict[tuple[str, int], tuple[Figure, Figure]], list[float]]:
    """Every op at every level, in rounds; in each, the app then the ceiling (same load, so both meet the
    same drift of the machine). Returns (app, ceiling) figures per (op, level) and the server's RSS (MiB)
    after each round."""
    duration, rounds = (1.0, 1) if bench.opts.quick else (3.0, 3)
    duration = duration_s or duration
    samples = bench.opts.workdir / "ceiling-samples.json"
    ceiling = Server(
        bench.opts.workdir, name="ceiling", argv=["-m", "bench.ceiling_app", "--samples", str(samples)]
    )
    await ceiling.start()
    runs: dict[tuple[str, int], tuple[list[wrk.WrkResult], list[wrk.WrkResult]]] = {
        key: ([], []) for key in itertools.product(OPS, levels)
    }
    rss: list[float] = []
    try:
        tops = _ceiling_targets(ceiling.base, bench.create_script(), bench.scripts)
        for number in range(rounds):
            for op, level in itertools.product(OPS, levels):
                target, headers = await bench.app_target(op, level)
                app = await wrk.run(
                    target.url,
                    connections=level,
                    duration_s=duration,
                    script=target.script,
                    headers=headers,
                    server_pid=bench.server.pid,
                    settle_after=True,
                )
                top = await wrk.run(
                    tops[op].url,
                    connections=level,
                    duration_s=duration,
                    script=tops[op].script,
                    server_pid=ceiling.pid,
                )
                runs[(op, level)][0].append(app)
                runs[(op, level)][1].append(top)
                print(
                    f"  [{bench.label} round {number + 1}] {op:8} @{level:<3} {app.rps:7.1f} req/s "
                    f"(ceiling {top.rps:7.1f}) · {Figure.of([app]).detail()}",
                    flush=True,
                )
            rss.append(rss_of(bench.server.pid) or float("nan"))
    finally:
        ceiling.stop()
    return {key: (Figure.of(a), Figure.of(t)) for key, (a, t) in runs.items()}, rss


def _rows(db: str, results: dict[tuple[str, int], tuple[Figure, Figure]]) -> list[Row]:
    rows = []
    for (op, level), (app, top) in results.items():
        row = Row("1 API", f"{op} @{level} ({db})", app.rps, "req/s", detail=app.detail(), ceiling=top.rps)
        if level == 64:
            checks = [app.p99_ms <= P99_TARGET_MS, app.cpu_ms is not None and app.cpu_ms <= CPU_TARGET_MS[op]]
            row.target = f"CPU ≤ {CPU_TARGET_MS[op]:g} ms/req, p99 ≤ {P99_TARGET_MS:.0f} ms"
            if op != "complete":
                row.target += f", ≥ {SHARE_TARGET:.0%} of ceiling"
                checks.append(row.ratio is not None and row.ratio >= SHARE_TARGET)
            row.met = all(checks)
        if level == 256:
            row.target = "no non-2xx, no socket errors"
            row.met = app.non_2xx == 0 and not app.socket_errors
        rows.append(row)
    return rows


def _rss_row(db: str, rss: list[float]) -> Row:
    after = rss[1:] or rss
    drift = max(after) - min(after)
    return Row(
        "6 memory",
        f"RSS drift across rounds 2… of benchmark 1 ({db})",
        drift,
        "MB",
        detail="after each round: " + ", ".join(f"{value:.0f}" for value in rss),
        target=f"≤ {RSS_DRIFT_TARGET_MB:.0f} MB",
        met=drift <= RSS_DRIFT_TARGET_MB,
        lower_is_better=True,
    )


async def startup_on_existing(opts: Options, data_name: str, *, rounds: int) -> list[float]:
    """Seconds from spawning `taskstream up` to /readyz 200, on the database the api benchmark filled."""
    times = []
    for _ in range(rounds):
        server = Server(opts.workdir, name=data_name)
        times.append(await server.start())
        server.stop()
    return times


async def run_one(opts: Options, db: str, server: Server) -> list[Row]:
    """Benchmark 1 on one started server, then its RSS row."""
    bench = Bench(opts, server, db.lower())
    await bench.prepare()
    await wrk.settle(server.pid)
    idle = rss_of(server.pid) or float("nan")
    results, rss = await measure(bench)
    idle_row = Row(
        "6 memory",
        f"RSS idle ({db}, after start + the users' tasks)",
        idle,
        "MB",
        target=f"≤ {IDLE_RSS_TARGET_MB:.0f} MB",
        met=idle <= IDLE_RSS_TARGET_MB,
    )
    return [*_rows(db, results), idle_row, _rss_row(db, rss)]


async def run(opts: Options) -> list[Row]:
    """Benchmarks 1 and 6 (wrk is needed: without it they are skipped and the run says so)."""
    if not wrk.available():
        opts.notes.append("benchmark 1 skipped: wrk is not installed (apt-get install wrk)")
        return []
    rows: list[Row] = []
    server = Server(opts.workdir, name="api-sqlite")
    await server.start()
    try:
        rows += await run_one(opts, "SQLite", server)
    finally:
        server.stop()
    if opts.pg:
        name = await create_pg_database()
        try:
            server = Server(opts.workdir, name="api-pg", database_url=pg_url(name))
            await server.start()
            try:
                rows += await run_one(opts, "PostgreSQL", server)
            finally:
                server.stop()
        finally:
            await drop_pg_database(name)
    rows[0].note = (
        "wrk against `taskstream up` (embedded: the relay and consumers run in the server process, so their "
        "work is in its CPU); ceiling = bench/ceiling_app.py in the same rounds, after each figure"
    )
    startups = await startup_on_existing(opts, "api-sqlite", rounds=2 if opts.quick else 3)
    rows.append(
        Row(
            "6 memory",
            "start-up to ready, existing database",
            median(startups),
            "s",
            detail=f"median of {len(startups)}: " + ", ".join(f"{t:.2f}" for t in startups),
            target=f"≤ {STARTUP_TARGET_S:.0f} s",
            met=median(startups) <= STARTUP_TARGET_S,
        )
    )
    return rows

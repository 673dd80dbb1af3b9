"""Shared pieces of the benchmarks: result rows, percentiles, the server process, databases, sign-up."""

from __future__ import annotations

import asyncio
import math
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
JWT_SECRET = "bench-secret-of-at-least-thirty-two-bytes-long"
PG_ADMIN_URL = os.environ.get("TASKSTREAM_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
PASSWORD = "correct horse battery"


@dataclass
class Row:
    """One line of the results table; `value` and `ceiling` are in `unit`.

    ratio = the share of the ceiling reached: value / ceiling for rates, ceiling / value for times.
    """

    bench: str
    figure: str
    value: float | None
    unit: str
    detail: str = ""
    target: str = ""
    ceiling: float | None = None
    met: bool | None = None
    note: str = ""
    lower_is_better: bool = False

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.ceiling or not self.value:
            return None
        return self.ceiling / self.value if self.lower_is_better else self.value / self.ceiling


@dataclass
class Options:
    """What the command line chose: scale of each benchmark and where to put scratch files."""

    quick: bool
    workdir: Path
    pg: bool = True
    notes: list[str] = field(default_factory=list)


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, q in [0, 100]; NaN for no samples."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(samples: Sequence[float]) -> float:
    """The 50th percentile (nearest rank)."""
    return percentile(samples, 50)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(**extra: str) -> dict[str, str]:
    """The environment for child processes: src/ on PYTHONPATH, a fixed JWT key, quiet logs."""
    path = os.pathsep.join(p for p in (str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ)
    env.update(
        PYTHONPATH=path,
        TASKSTREAM_JWT_SECRET=JWT_SECRET,
        TASKSTREAM_LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


def rss_mb(pid: int) -> float | None:
    """Resident set size of `pid` in MiB (from /proc), or None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    """The child processes of `pid` (none when it is gone)."""
    try:
        return [int(k) for k in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def tree_rss_mb(pid: int) -> float | None:
    """RSS of `pid` plus all of its descendants, MiB (the kafka mode runs one process per service)."""
    total = rss_mb(pid)
    if total is None:
        return None
    for kid in children(pid):
        total += tree_rss_mb(kid) or 0.0
    return total


class Server:
    """`python -m taskstream up` (or another module) in its own process on a free 127.0.0.1 port."""

    def __init__(
        self,
        workdir: Path,
        *,
        name: str,
        database_url: str | None = None,
        bus: str = "memory",
        env: dict[str, str] | None = None,
        argv: list[str] | None = None,
        ready_path: str = "/readyz",
    ) -> None:
        self.workdir = workdir
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data_dir = workdir / name
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.database_url = database_url
        self.bus = bus
        self.extra_env = env or {}
        self.argv = argv
        self.ready_path = ready_path
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_s: float | None = None

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    def command(self) -> list[str]:
        if self.argv is not None:
            return [sys.executable, *self.argv, "--port", str(self.port)]
        cmd = [sys.executable, "-m", "taskstream", "up", "--port", str(self.port)]
        cmd += ["--data-dir", str(self.data_dir)]
        if self.database_url:
            cmd += ["--database-url", self.database_url]
        if self.bus != "memory":
            cmd += ["--bus", self.bus]
        return cmd

    async def start(self, *, timeout_s: float = 60.0) -> float:
        """Start the process and wait until `ready_path` answers 200; returns seconds to ready."""
        started = time.perf_counter()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: ASYNC220 - returns at once; readiness is polled below
                self.command(),
                env=child_env(**self.extra_env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=str(ROOT),
            )
        async with httpx.AsyncClient(timeout=1.0) as http:
            while time.perf_counter() - started < timeout_s:
                if self.process.poll() is not None:
                    break
                try:
                    if (await http.get(self.base + self.ready_path)).status_code == 200:
                        self.startup_s = time.perf_counter() - started
                        return self.startup_s
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.01)
        tail = self.log_path.read_text(errors="replace")[-3000:]
        self.stop()
        raise RuntimeError(f"{self.name} did not become ready: {tail}")

    def stop(self, *, timeout_s: float = 20.0) -> None:
        """SIGINT (a clean uvicorn shutdown), then SIGKILL after timeout_s."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid


async def sign_up(base: str, email: str | None = None) -> dict[str, str]:
    """Register a user and sign in (Argon2 runs here, outside every timed loop); returns the auth header."""
    email = email or f"bench-{uuid.uuid4().hex[:10]}@example.com"
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        response = await http.post(
            "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "timezone": "UTC"}
        )
        response.raise_for_status()
        response = await http.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
        response.raise_for_status()
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


# ------------------------------------------------------------------ PostgreSQL scratch databases


async def pg_available() -> bool:
    """True when the PostgreSQL admin URL answers."""
    import asyncpg

    try:
        connection = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await connection.close()
    return True


async def create_pg_database() -> str:
    """A new empty database `bench_<hex>`; returns its name."""
    import asyncpg

    name = f"bench_{uuid.uuid4().hex[:10]}"
    connection = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return name


async def drop_pg_database(name: str) -> None:
    """Drop a database made by create_pg_database (open connections are terminated)."""
    import asyncpg

    connection = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def pg_url(name: str, *, driver: str = "postgresql+asyncpg") -> str:
    """URL of database `name` on the admin URL's server, with the SQLAlchemy driver prefix."""
    base = PG_ADMIN_URL.rsplit("/", 1)[0].split("://", 1)[1]
    return f"{driver}://{base}/{name}"


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy async URL of a SQLite file."""
    return f"sqlite+aiosqlite:///{path}"


def ms(seconds: float) -> float:
    """Seconds → milliseconds."""
    return seconds * 1000.0

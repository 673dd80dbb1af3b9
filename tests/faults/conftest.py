"""Fault-test fixtures: a fresh PostgreSQL database, a fresh Apache Kafka broker, child processes."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from taskstream.devkafka import KafkaBroker, free_port
from taskstream.runtime import Runtime
from taskstream.settings import Settings
from tests.conftest import start_kafka

ROOT = Path(__file__).resolve().parents[2]
JWT_SECRET = "fault-tests-secret-of-at-least-thirty-two-bytes"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[KafkaBroker]:
    """A fresh Apache Kafka broker per test (topics and committed offsets never leak between tests)."""
    instance = start_kafka(tmp_path / "kafka")
    yield instance
    instance.stop()


def kafka_settings(tmp_path: Path, database_url: str, broker: KafkaBroker, **overrides: Any) -> Settings:
    """Settings for services on the test broker: idempotent producer, short sessions, probes and backoffs."""
    values: dict[str, Any] = dict(
        data_dir=tmp_path,
        database_url=database_url,
        jwt_secret=JWT_SECRET,
        bus="kafka",
        kafka_bootstrap=broker.bootstrap,
        kafka_session_timeout_s=2.0,
        kafka_request_timeout_s=5.0,
        kafka_health_interval_s=0.5,
        consumer_backoff_s=0.05,
        consumer_max_attempts=3,
        relay_poll_s=0.2,
        scheduler_poll_s=0.2,
        db_pool_size=20,
    )
    return Settings(**(values | overrides))


def child_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment for `python -m taskstream serve` with the database, broker and keys of `settings`."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    env.update(
        TASKSTREAM_BUS="kafka",
        TASKSTREAM_KAFKA_BOOTSTRAP=str(settings.kafka_bootstrap),
        TASKSTREAM_KAFKA_SESSION_TIMEOUT_S="3",
        TASKSTREAM_KAFKA_REQUEST_TIMEOUT_S="5",
        TASKSTREAM_KAFKA_HEALTH_INTERVAL_S="0.5",
        TASKSTREAM_DATABASE_URL=settings.resolved_database_url(),
        TASKSTREAM_DATA_DIR=str(settings.data_dir),
        TASKSTREAM_JWT_SECRET=JWT_SECRET,
        TASKSTREAM_CONSUMER_BACKOFF_S="0.05",
        TASKSTREAM_LOG_LEVEL="WARNING",
    )
    return env | extra


class ServiceProcess:
    """`python -m taskstream serve SERVICE` as a child process that a test may SIGKILL and start again."""

    def __init__(self, service: str, env: dict[str, str], log_path: Path) -> None:
        self.service = service
        self.env = env
        self.log_path = log_path
        self.port = free_port()  # kept across restarts
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        with self.log_path.open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "taskstream", "serve", self.service, "--port", str(self.port)],
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=ROOT,
            )
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, no offset is committed on the way out."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def log(self) -> str:
        """Everything the process wrote so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def bounded(seconds: float) -> Callable[[Callable[..., Awaitable[None]]], Callable[..., Awaitable[None]]]:
    """Fail an async test that runs longer than `seconds` (the suite has no pytest-timeout)."""

    def decorate(test: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        @functools.wraps(test)
        async def run(*args: Any, **kwargs: Any) -> None:
            try:
                async with asyncio.timeout(seconds):
                    await test(*args, **kwargs)
            except TimeoutError:
                pytest.fail(f"{test.__name__} took longer than {seconds} s")

        return run

    return decorate


async def eventually(
    condition: Callable[[], Awaitable[bool]], *, timeout_s: float, what: str | Callable[[], str]
) -> float:
    """Poll `condition` every 0.2 s; returns the seconds it took; fails the test after timeout_s.

    `what` names the wait in the failure (a callable is asked then, to say what was counted last).
    """
    started = time.monotonic()
    while not await condition():
        if time.monotonic() - started > timeout_s:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what() if callable(what) else what}")
        await asyncio.sleep(0.2)
    return time.monotonic() - started


async def count(runtime: Runtime, table: type, *where: Any) -> int:
    """Rows of `table` matching `where`."""
    async with runtime.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(table).where(*where)) or 0)


async def sign_up(client: httpx.AsyncClient, email: str) -> tuple[str, dict[str, str]]:
    """Register and sign in; returns (user id, Authorization header)."""
    response = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": "correct horse", "timezone": "UTC"}
    )
    assert response.status_code == 201, response.text
    response = await client.post("/api/v1/auth/token", data={"username": email, "password": "correct horse"})
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    user_id = (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).json()["id"]
    return user_id, {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def api_client() -> AsyncIterator[Callable[[Runtime], httpx.AsyncClient]]:
    """Makes httpx clients bound in-process to the real api app of a runtime (started by the test)."""
    from taskstream.api.app import create_app

    made: list[httpx.AsyncClient] = []

    def make(runtime: Runtime) -> httpx.AsyncClient:
        app = create_app(runtime.api_context(), runtime.engine)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", timeout=30)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()

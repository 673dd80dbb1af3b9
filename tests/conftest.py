"""Shared fixtures: SQLite and PostgreSQL databases, Apache Kafka, a runtime with a fixed clock, a client."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest

from taskstream.devkafka import BrokerError, KafkaBroker, ensure_jars, free_port
from taskstream.devkafka.jars import java_binary
from taskstream.domain.clock import FixedClock
from taskstream.features.accounts.passwords import Passwords
from taskstream.runtime import Runtime
from taskstream.settings import Settings

PG_ADMIN_URL = os.environ.get("TASKSTREAM_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = bool(os.environ.get("CI"))
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday


def unavailable(reason: str) -> None:
    """Skip with `reason`, except in CI, where a missing service is a failure."""
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


async def _create_pg_database() -> str:
    name = f"ts_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return name


async def _drop_pg_database(name: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def _pg_url(name: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


@contextmanager
def _fresh_pg_database() -> Iterator[str]:
    try:
        name = asyncio.run(_create_pg_database())
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        unavailable(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {error}")
    try:
        yield _pg_url(name)
    finally:
        asyncio.run(_drop_pg_database(name))


def start_kafka(directory: Path, **options: object) -> KafkaBroker:
    """A started Apache Kafka broker on a free port with its log in `directory` (stop it when done).

    Skips with the reason (fails in CI) when Java or the broker's jars cannot be had.
    """
    try:
        java_binary()
        ensure_jars()
    except BrokerError as error:
        unavailable(f"no Apache Kafka broker: {error}")
    broker = KafkaBroker(directory, port=free_port(), **options)  # type: ignore[arg-type]
    broker.start()
    return broker


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A new empty PostgreSQL database (SQLAlchemy asyncpg URL), dropped afterwards."""
    with _fresh_pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh empty database: a SQLite file, or a new PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    with _fresh_pg_database() as url:
        yield url


@pytest.fixture
def clock() -> FixedClock:
    """A clock fixed at START (Monday 2026-03-02 08:00 UTC); advance it by hand."""
    return FixedClock(START)


def make_settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings for in-process tests: fast retries, a fixed JWT key, tokens that outlive clock jumps."""
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        jwt_secret="test-secret-of-at-least-thirty-two-bytes",
        consumer_backoff_s=0.0,
        consumer_max_attempts=3,
        token_ttl_s=20 * 365 * 24 * 3600,  # tests move the clock by years
        refresh_ttl_s=20 * 365 * 24 * 3600,
        auth_signups_per_address=10_000,  # many tests sign up several users; tests/api/test_accounts.py
        # checks the limits with their own settings
    )


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url)


@pytest.fixture
async def runtime(settings: Settings, clock: FixedClock) -> AsyncIterator[Runtime]:
    """Every service in one process, background loops off: tests call `runtime.drain()`. Passwords are
    hashed with Argon2id at its smallest cost (a sign-up takes ~1 ms instead of ~0.6 s)."""
    rt = Runtime(settings, clock=clock, passwords=Passwords.cheap())
    await rt.start(background=False)
    try:
        yield rt
    finally:
        await rt.stop()


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client bound to the api app in-process (no lifespan: the runtime fixture started it)."""
    from taskstream.api.app import create_app

    app = create_app(runtime.api_context(), runtime.engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        yield http


async def sign_up(
    client: httpx.AsyncClient, email: str = "ada@example.com", timezone: str = "UTC"
) -> dict[str, str]:
    """Register and sign in; returns the Authorization header."""
    response = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": "correct horse", "timezone": timezone}
    )
    assert response.status_code == 201, response.text
    response = await client.post("/api/v1/auth/token", data={"username": email, "password": "correct horse"})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}

"""`deploy/local/kafka`: start prints the bootstrap address, status and stop work, a restart keeps the log."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from taskstream.devkafka import BrokerError, ensure_jars, free_port
from taskstream.devkafka.jars import java_binary
from taskstream.messaging.bus import Message
from taskstream.transports.kafka import KafkaBus
from tests.conftest import unavailable

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "local" / "kafka"

pytestmark = [pytest.mark.kafka]


def kafka(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=180, check=False)


async def _consume_all(bootstrap: str, topic: str, expect: int) -> list[bytes]:
    received: list[bytes] = []

    async def handler(message: Message) -> None:
        received.append(message.value)

    bus = KafkaBus(bootstrap, client_id="dev-kafka-test", session_timeout_s=2.0)
    bus.subscribe(topic, group="dev-kafka-test", handler=handler)
    await bus.start()
    try:
        async with asyncio.timeout(30):
            while len(received) < expect:  # noqa: ASYNC110 - the consumer runs in its own task
                await asyncio.sleep(0.1)
    finally:
        await bus.stop()
    return received


async def test_start_status_stop_and_a_restart_on_the_same_data_keeps_the_log(tmp_path: Path) -> None:
    try:
        java_binary()
        ensure_jars()
    except BrokerError as error:
        unavailable(f"no Apache Kafka: {error}")
    data, port = tmp_path / "kafka", free_port()
    started = kafka("start", "--port", str(port), "--data", str(data))
    try:
        assert started.returncode == 0, started.stderr
        assert started.stdout.strip().splitlines()[-1] == f"127.0.0.1:{port}"
        status = kafka("status", "--data", str(data))
        assert status.returncode == 0 and status.stdout.strip().splitlines()[-1] == f"127.0.0.1:{port}"

        publisher = KafkaBus(f"127.0.0.1:{port}", client_id="dev-kafka-test")
        await publisher.start()
        await publisher.publish([Message("kept", "user-a", b"survives a restart")])
        await publisher.stop()

        stopped = kafka("stop", "--data", str(data))
        assert stopped.returncode == 0, stopped.stderr
        assert kafka("status", "--data", str(data)).returncode == 3

        again = kafka("start", "--data", str(data))  # no --port: the one this DIR used
        assert again.returncode == 0, again.stderr
        assert again.stdout.strip().splitlines()[-1] == f"127.0.0.1:{port}"
        assert await _consume_all(f"127.0.0.1:{port}", "kept", 1) == [b"survives a restart"]
    finally:
        kafka("stop", "--data", str(data))
    assert kafka("status", "--data", str(data)).returncode == 3

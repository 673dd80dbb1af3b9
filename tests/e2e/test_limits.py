"""Limits of the real server (`taskstream up` on 127.0.0.1): a chunked body is cut at the limit without being
read whole, a WebSocket message over the limit closes the socket with 1009, /metrics can move to a port of
its own behind a token, and the data directory and the SQLite files are private to their owner."""

from __future__ import annotations

import asyncio
import select
import socket
import stat
import time
from pathlib import Path

import httpx
import pytest
import websockets

from taskstream.devkafka import free_port
from tests.e2e.server import Server

CHUNK = 64 * 1024
BODY = 64 * 1024 * 1024  # what the client would send: far more than the limit (1 MB by default)


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _chunked_post(port: int) -> tuple[bytes, int]:
    """POST a 64 MB chunked body over a raw socket, a chunk at a time, until the server answers; returns
    (what it answered, bytes sent by then)."""
    head = (
        b"POST /api/v1/auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = f"{CHUNK:x}\r\n".encode() + b"x" * CHUNK + b"\r\n"
    sent, answer = 0, b""
    deadline = time.monotonic() + 30
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(head)
        while sent < BODY and time.monotonic() < deadline:
            readable, writable, _ = select.select([conn], [conn], [], 1.0)
            if readable:
                break
            if writable:
                try:
                    conn.sendall(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    break
                sent += CHUNK
        conn.settimeout(5)
        try:
            while b"\r\n\r\n" not in answer and (data := conn.recv(65536)):
                answer += data
        except (ConnectionResetError, TimeoutError):
            pass
    return answer, sent


def test_a_chunked_body_gets_413_before_8_mb_and_the_server_does_not_hold_it(server: Server) -> None:
    assert server.process is not None
    before = _rss_kib(server.process.pid)
    answer, sent = _chunked_post(server.port)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert sent < 8 * 1024 * 1024, sent
    grown_mib = (_rss_kib(server.process.pid) - before) / 1024
    assert grown_mib < 16, f"the server grew by {grown_mib:.0f} MiB"
    assert httpx.get(f"{server.base}/readyz", timeout=5).status_code == 200


async def _token(base: str) -> str:
    password = "violet tractor gallops 4219"
    async with httpx.AsyncClient(base_url=f"{base}/api/v1") as http:
        email = "ws-limit@example.com"
        registered = await http.post("/auth/register", json={"email": email, "password": password})
        assert registered.status_code == 201, registered.text
        signed_in = await http.post("/auth/token", data={"username": email, "password": password})
        return str(signed_in.json()["access_token"])


async def test_a_websocket_message_over_the_limit_closes_with_1009(server: Server) -> None:
    token = await _token(server.base)
    url = f"ws://127.0.0.1:{server.port}/api/v1/ws?token={token}"
    async with websockets.connect(url, max_size=None) as ws:
        assert '"ready"' in str(await asyncio.wait_for(ws.recv(), 10))
        await ws.send("ping" + " " * (128 * 1024))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    async with websockets.connect(url) as ws:  # the server goes on
        assert '"ready"' in str(await asyncio.wait_for(ws.recv(), 10))
        await ws.send("ping")
        assert '"pong"' in str(await asyncio.wait_for(ws.recv(), 10))


def test_metrics_on_their_own_port_behind_a_token(tmp_path: Path) -> None:
    metrics_port = free_port()
    env = {"TASKSTREAM_METRICS_PORT": str(metrics_port), "TASKSTREAM_METRICS_TOKEN": "scrape-me-please"}
    srv = Server(tmp_path, env=env)
    srv.start()
    try:
        assert httpx.get(f"{srv.base}/metrics", timeout=5).status_code == 404
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        assert httpx.get(url, timeout=5).status_code == 401
        scraped = httpx.get(url, headers={"Authorization": "Bearer scrape-me-please"}, timeout=5)
        assert scraped.status_code == 200, scraped.text
        assert "taskstream_outbox_unsent_rows" in scraped.text  # refreshed on scrape, from the loop
    finally:
        srv.stop()


def test_the_data_dir_and_the_database_files_are_private(tmp_path: Path) -> None:
    srv = Server(tmp_path / "fresh" / "data", log=tmp_path / "server.log")  # neither dir exists yet
    srv.start()
    try:
        data = srv.data_dir
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        for name in ("taskstream.db", "taskstream.db-wal", "taskstream.db-shm", "jwt.key"):
            assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
    finally:
        srv.stop()

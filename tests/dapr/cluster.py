"""`taskstream up --bus dapr` as a test drives it: real daprd sidecars, the Dapr scheduler, Apache Kafka."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from taskstream.devdapr import DaprUnavailable, installed
from taskstream.devkafka import free_port
from tests.conftest import unavailable

ROOT = Path(__file__).resolve().parents[2]
API_TOKEN = "test-token-app-to-sidecar"  # DAPR_API_TOKEN of every sidecar in these tests
APP_TOKEN = "test-token-sidecar-to-app"  # APP_API_TOKEN: what every sidecar sends its app


def require_daprd() -> None:
    """Skip (fail in CI) unless `deploy/local/dapr build` has run on this machine."""
    if installed() is None:
        unavailable(str(DaprUnavailable("daprd is not built: run `deploy/local/dapr build` (needs Go)")))


class DaprCluster:
    """One `up --bus dapr` process; its JSON log says where each child listens and which pid it has."""

    def __init__(self, tmp_path: Path, bootstrap: str, **env: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / "up.log"
        self.data_dir = tmp_path / "data"
        self.bootstrap = bootstrap
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> DaprCluster:
        pythonpath = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
        env = dict(
            os.environ,
            PYTHONPATH=pythonpath,
            TASKSTREAM_LOG_FORMAT="json",
            TASKSTREAM_DAPR_API_TOKEN=API_TOKEN,
            TASKSTREAM_DAPR_APP_TOKEN=APP_TOKEN,
            TASKSTREAM_JWT_SECRET="a-test-signing-key-of-at-least-32-bytes",
            TASKSTREAM_AUTH_SIGNUPS_PER_ADDRESS="1000",
        )
        command = [sys.executable, "-m", "taskstream", "up", "--bus", "dapr", "--bootstrap", self.bootstrap]
        command += ["--port", str(self.port), "--data-dir", str(self.data_dir)]
        with self.log_path.open("ab") as output:
            self.process = subprocess.Popen(
                command,
                env=env | self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=ROOT,
            )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def supervisor_events(self, event: str) -> list[dict[str, Any]]:
        """The supervisor's own JSON log lines with this `event` (children's lines carry a prefix)."""
        found = []
        for line in self.log().splitlines():
            if line.startswith("{"):
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("event") == event:
                    found.append(entry)
        return found

    def child(self, name: str) -> dict[str, Any]:
        """The latest "service started" entry of child `name` (e.g. "audit", "recurring-dapr"): pid, url."""
        entries = [e for e in self.supervisor_events("service started") if e["service"] == name]
        assert entries, f"{name} never started:\n{self.log()[-3000:]}"
        return entries[-1]

    def url(self, name: str) -> str:
        return str(self.child(name)["url"])

    def pid(self, name: str) -> int:
        return int(self.child(name)["pid"])

    async def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Until the api answers /readyz and every sidecar reports healthy (its app and components up)."""
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                assert self.process is not None and self.process.poll() is None, self.log()[-3000:]
                if await self._all_ready(client):
                    return
                await asyncio.sleep(0.3)
        raise AssertionError(f"not ready within {timeout_s} s:\n{self.log()[-4000:]}")

    async def _all_ready(self, client: httpx.AsyncClient) -> bool:
        sidecars = [e for e in self.supervisor_events("service started") if e["service"].endswith("-dapr")]
        if len({e["service"] for e in sidecars}) < 6:
            return False
        urls = [f"{self.base}/readyz"] + [f"{self.url(e['service'])}/v1.0/healthz" for e in sidecars]
        try:
            answers = [await client.get(url) for url in dict.fromkeys(urls)]
        except httpx.TransportError:
            return False
        return all(a.status_code in (200, 204) for a in answers)

    def sidecar(self, service: str) -> httpx.AsyncClient:
        """A client of `service`'s daprd HTTP API, with the API token."""
        return httpx.AsyncClient(
            base_url=self.url(f"{service}-dapr"), headers={"dapr-api-token": API_TOKEN}, timeout=10
        )

    def stop(self) -> int:
        """SIGINT (Ctrl-C), then the exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

"""The real server process for end-to-end tests: `taskstream up` on a free port with a temporary data dir."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from taskstream.devkafka import free_port

ROOT = Path(__file__).resolve().parents[2]


class Server:
    """`taskstream up` in a subprocess on a free port."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, log: Path | None = None) -> None:
        self.data_dir = data_dir
        self.env = env or {}
        self.log = log or data_dir / "server.log"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = os.environ | {"PYTHONPATH": str(ROOT / "src"), "TASKSTREAM_SCHEDULER_POLL_S": "0.2"} | self.env
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "taskstream",
                "up",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "ab"),
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server did not become ready: " + self.log.read_text()[-2000:])

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()

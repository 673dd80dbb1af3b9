"""One `taskstream up` per data directory: a second one on the same directory stops with a clear message."""

from __future__ import annotations

import os
import subprocess
import sys

from taskstream.devkafka import free_port
from tests.e2e.server import ROOT, Server


def test_a_second_up_on_the_same_data_dir_exits_naming_the_first(server: Server) -> None:
    assert server.process is not None
    second = subprocess.run(
        [
            sys.executable,
            "-m",
            "taskstream",
            "up",
            "--port",
            str(free_port()),
            "--data-dir",
            str(server.data_dir),
        ],
        env=os.environ | {"PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert second.returncode == 1, second.stdout + second.stderr
    assert f"another `taskstream up` (pid {server.process.pid}) runs on {server.data_dir}" in second.stderr
    assert server.process.poll() is None  # the first one goes on

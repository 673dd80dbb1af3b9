"""schemathesis (every check, every phase) over every operation of /openapi.json, against the real server.

`taskstream up` runs on 127.0.0.1 with a fresh SQLite data dir; the run is signed in as a user registered
here. The run is bounded (examples per operation, a fixed seed) to stay within about two minutes on two
cores. It must end with no failure: no 5xx, no status or body that the OpenAPI does not declare.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import Server

CONFIG = Path(__file__).with_name("schemathesis.toml")
PASSWORD = "violet tractor gallops 4219"
RUN_TIMEOUT_S = 300


@pytest.fixture
def fuzzed_server(tmp_path: Path) -> Iterator[Server]:
    # Failed sign-ins per address are capped lower than in production: each costs an Argon2 verification.
    srv = Server(tmp_path / "data", env={"TASKSTREAM_AUTH_FAILURES_PER_ADDRESS": "30"}, log=tmp_path / "log")
    srv.start()
    yield srv
    srv.stop()


def _token(base: str) -> str:
    email = f"st-{uuid.uuid4().hex[:8]}@example.com"
    registered = httpx.post(f"{base}/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert registered.status_code == 201, registered.text
    signed_in = httpx.post(f"{base}/api/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert signed_in.status_code == 200, signed_in.text
    return str(signed_in.json()["access_token"])


def test_schemathesis_finds_no_failure_in_any_operation(fuzzed_server: Server, tmp_path: Path) -> None:
    base = fuzzed_server.base
    env = os.environ | {
        "TASKSTREAM_ST_TOKEN": _token(base),
        "TASKSTREAM_ST_BYSTANDER_TOKEN": _token(base),
        "NO_COLOR": "1",
    }
    report = tmp_path / "junit.xml"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG),
        "run",
        f"{base}/openapi.json",
        "--checks",
        "all",
        # A task's history outlives the task (the audit log keeps it), while use_after_free counts every path
        # under a deleted one as freed (and cannot be switched off for one operation in the stateful phase).
        # tests/api/test_tasks_api.py checks that a deleted task itself answers 404.
        "--exclude-checks",
        "use_after_free",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
    ]
    run = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )
    output = run.stdout + run.stderr
    (tmp_path / "schemathesis.txt").write_text(output)
    assert "Operations:" in output, output[-3000:]
    assert run.returncode == 0, output[-20000:]
    operations = httpx.get(f"{base}/openapi.json").json()["paths"]
    tested = sum(len(methods) for methods in operations.values())
    assert f"{tested} selected / {tested} total" in output, output[:2000]

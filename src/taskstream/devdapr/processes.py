"""Command lines and process handles for daprd (self-hosted mode) and the Dapr scheduler on 127.0.0.1.

`daprd_command` and `scheduler_command` build the argument lists the supervisor (`taskstream up --bus dapr`)
runs; `Process` starts one of them with its output in a log file, waits for its health endpoint, and stops or
kills it — the handle tests and the benchmark use.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from taskstream.devdapr.build import DaprBinaries, DaprUnavailable
from taskstream.devkafka import free_port


@dataclass(frozen=True)
class SidecarPorts:
    """The ports one daprd listens on: its HTTP and gRPC APIs, its internal gRPC API and its metrics."""

    http: int = field(default_factory=free_port)
    grpc: int = field(default_factory=free_port)
    internal_grpc: int = field(default_factory=free_port)
    metrics: int = field(default_factory=free_port)


@dataclass(frozen=True)
class SchedulerPorts:
    """The ports the scheduler listens on: its gRPC API, health, metrics and its embedded etcd's two."""

    grpc: int = field(default_factory=free_port)
    healthz: int = field(default_factory=free_port)
    metrics: int = field(default_factory=free_port)
    etcd_client: int = field(default_factory=free_port)
    etcd_peer: int = field(default_factory=free_port)

    @property
    def address(self) -> str:
        """What daprd dials: "127.0.0.1:<grpc>"."""
        return f"127.0.0.1:{self.grpc}"


def daprd_command(
    binaries: DaprBinaries,
    *,
    app_id: str,
    app_port: int,
    ports: SidecarPorts,
    resources: Path,
    config: Path,
    scheduler: str | None,
    log_level: str = "warn",
) -> list[str]:
    """daprd for one app in self-hosted mode: resources and configuration from files, no actors, no mTLS.

    Tokens travel in the environment, never on the command line: DAPR_API_TOKEN (what the app must send to
    daprd) and APP_API_TOKEN (what daprd sends to the app as `dapr-api-token`). POD_NAME fills the
    components' {podName}.
    """
    command = [
        str(binaries.daprd),
        "--mode", "standalone",
        "--app-id", app_id,
        "--app-port", str(app_port),
        "--app-protocol", "http",
        "--app-channel-address", "127.0.0.1",
        "--dapr-listen-addresses", "127.0.0.1",
        "--dapr-http-port", str(ports.http),
        "--dapr-grpc-port", str(ports.grpc),
        "--dapr-internal-grpc-port", str(ports.internal_grpc),
        "--metrics-port", str(ports.metrics),
        "--metrics-listen-address", "127.0.0.1",
        "--resources-path", str(resources),
        "--config", str(config),
        "--log-level", log_level,
        "--dapr-graceful-shutdown-seconds", "3",
    ]  # fmt: skip
    if scheduler:
        command += ["--scheduler-host-address", scheduler]
    return command


def scheduler_command(
    binaries: DaprBinaries, *, ports: SchedulerPorts, data_dir: Path, log_level: str = "warn"
) -> list[str]:
    """The scheduler (the Jobs API's back end) in standalone mode, its embedded etcd kept in `data_dir`."""
    return [
        str(binaries.scheduler),
        "--mode", "standalone",
        "--listen-address", "127.0.0.1",
        "--port", str(ports.grpc),
        "--healthz-listen-address", "127.0.0.1",
        "--healthz-port", str(ports.healthz),
        "--metrics-listen-address", "127.0.0.1",
        "--metrics-port", str(ports.metrics),
        "--etcd-data-dir", str(data_dir),
        "--etcd-client-listen-address", "127.0.0.1",
        "--etcd-client-port", str(ports.etcd_client),
        "--etcd-initial-cluster", f"dapr-scheduler-server-0=http://127.0.0.1:{ports.etcd_peer}",
        "--override-broadcast-host-port", ports.address,
        "--log-level", log_level,
    ]  # fmt: skip


def http_ok(url: str, *, timeout_s: float = 1.0) -> bool:
    """True when GET `url` answers 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


class Process:
    """One daprd or scheduler process: output appended to `log`, health polled at `health_url`."""

    def __init__(self, command: list[str], *, log: Path, health_url: str, env: dict[str, str] | None = None):
        self.command = command
        self.log = log
        self.health_url = health_url
        self.env = env or {}
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        """True while the process has not exited."""
        return self.popen is not None and self.popen.poll() is None

    def start(self, *, wait_s: float | None = 60.0) -> Process:
        """Start it; with `wait_s`, wait for its health URL (DaprUnavailable if it exits or times out)."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.command,
                env=dict(os.environ) | self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if wait_s is not None:
            self.wait_healthy(wait_s)
        return self

    def wait_healthy(self, timeout_s: float) -> None:
        """Poll the health URL until it answers 2xx; DaprUnavailable if the process exits or time runs out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.running:
                raise DaprUnavailable(f"{Path(self.command[0]).name} exited; see {self.log}:\n{self.tail()}")
            if http_ok(self.health_url):
                return
            time.sleep(0.1)
        name = Path(self.command[0]).name
        raise DaprUnavailable(f"{name} not healthy within {timeout_s} s:\n{self.tail()}")

    def tail(self, lines: int = 15) -> str:
        """The last lines of its log."""
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def kill(self) -> None:
        """SIGKILL, then reap it (a crash: nothing is flushed or acknowledged)."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM, wait up to `timeout_s`, then SIGKILL."""
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()

"""Command lines for daprd (self-hosted mode) and the Dapr scheduler on 127.0.0.1, and the ports they take.

`daprd_command` and `scheduler_command` build the argument lists the supervisor (`taskstream up --bus dapr`)
runs and the bus contract suite's harness starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from taskstream.devdapr.build import DaprBinaries
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

"""`taskstream up --bus dapr`: what the supervisor adds for Dapr — the scheduler, a daprd per service, the
topics daprd's Kafka component does not create, and the run's tokens."""

from __future__ import annotations

import asyncio
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import structlog

from taskstream import tracing
from taskstream.cli.supervisor import Child, plan_children
from taskstream.devdapr import (
    DaprBinaries,
    SchedulerPorts,
    SidecarPorts,
    daprd_command,
    scheduler_command,
)
from taskstream.devdapr import binaries as find_dapr_binaries
from taskstream.devdapr.resources import render as render_resources
from taskstream.events.topics import ALL_TOPICS
from taskstream.settings import Settings
from taskstream.store.files import private_dir

log = structlog.get_logger(__name__)

__all__ = ["DaprPlan", "dapr_children", "find_dapr_binaries", "plan_dapr_children"]


@dataclass(frozen=True)
class DaprPlan:
    """What `up --bus dapr` adds: the built binaries, the rendered resources and the run's two tokens.

    `api_token` is what every app sends its sidecar (daprd's DAPR_API_TOKEN); `app_token` what every sidecar
    sends its app (APP_API_TOKEN). Both are new for each run and never written to disk, unless
    TASKSTREAM_DAPR_API_TOKEN / TASKSTREAM_DAPR_APP_TOKEN set them.
    """

    binaries: DaprBinaries
    resources: Path
    config: Path
    scheduler_data: Path
    api_token: str = field(default_factory=lambda: _token("TASKSTREAM_DAPR_API_TOKEN"))
    app_token: str = field(default_factory=lambda: _token("TASKSTREAM_DAPR_APP_TOKEN"))
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))


def _token(variable: str) -> str:
    """The token the environment sets (to reach the sidecars from outside), else a new random one."""
    return os.environ.get(variable) or secrets.token_urlsafe(32)


def _plain_env(**extra: str) -> dict[str, str]:
    """A sidecar's environment: only what any program needs, plus `extra`."""
    keep = ("PATH", "HOME", "TMPDIR", "LANG", "TZ")
    return {name: os.environ[name] for name in keep if name in os.environ} | extra


def plan_dapr_children(settings: Settings, plan: DaprPlan) -> list[Child]:
    """The scheduler, then per service its daprd (app id taskstream-<service>) and the service beside it."""
    scheduler_ports = SchedulerPorts()
    children = [
        Child(
            "dapr-scheduler",
            scheduler_ports.grpc,
            "127.0.0.1",
            argv=scheduler_command(plan.binaries, ports=scheduler_ports, data_dir=plan.scheduler_data),
            env=_plain_env(),
        )
    ]
    for service in plan_children(settings):
        ports = SidecarPorts()
        command = daprd_command(
            plan.binaries,
            app_id=f"taskstream-{service.service}",
            app_port=service.port,
            ports=ports,
            resources=plan.resources,
            config=plan.config,
            scheduler=scheduler_ports.address,
        )
        sidecar_env = _plain_env(
            POD_NAME=f"{service.service}-{plan.run_id}",
            DAPR_API_TOKEN=plan.api_token,
            APP_API_TOKEN=plan.app_token,
        )
        sidecar = Child(f"{service.service}-dapr", ports.http, "127.0.0.1", argv=command, env=sidecar_env)
        children.append(sidecar)
        service.env = {
            "TASKSTREAM_DAPR_HTTP_PORT": str(ports.http),
            "TASKSTREAM_DAPR_PUBSUB": "pubsub-broadcast" if service.service == "realtime" else "pubsub",
            "TASKSTREAM_DAPR_API_TOKEN": plan.api_token,
            "TASKSTREAM_DAPR_APP_TOKEN": plan.app_token,
        }
        children.append(service)
    return children


def dapr_plan(settings: Settings, *, bootstrap: str) -> DaprPlan:
    """The built binaries and this run's resources, rendered into <data dir>/dapr; raises DaprUnavailable."""
    binaries = find_dapr_binaries()
    resources, config = render_resources(
        settings.data_dir / "dapr", bootstrap=bootstrap, otlp_endpoint=_otlp_endpoint()
    )
    scheduler_data = private_dir(settings.data_dir / "dapr-scheduler")  # the jobs survive a restart
    return DaprPlan(binaries, resources, config, scheduler_data=scheduler_data)


def _otlp_endpoint() -> str | None:
    """host:port of the OTLP/HTTP receiver the services export to, for the sidecars' spans (else none)."""
    names = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
    endpoint = next((os.environ[name] for name in names if os.environ.get(name)), None)
    if not endpoint or not tracing.enabled():
        return None
    return urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}").netloc or None


async def _create_topics(settings: Settings, bootstrap: str) -> None:
    """daprd's Kafka component does not create topics: make them (and their .dlq) as the Kafka bus would."""
    from taskstream.runtime import kafka_security
    from taskstream.transports.kafka import KafkaBus

    bus = KafkaBus(
        bootstrap,
        client_id="taskstream-up",
        security=kafka_security(settings),
        partitions=settings.kafka_partitions,
        connect_timeout_s=60.0,
    )
    await bus.create_topics(ALL_TOPICS)


def dapr_children(settings: Settings, bootstrap: str) -> list[Child]:
    """Create the topics, render the resources and plan every child of a Dapr run."""
    asyncio.run(_create_topics(settings, bootstrap))
    plan = dapr_plan(settings, bootstrap=bootstrap)
    log.info("dapr sidecars", daprd=str(plan.binaries.daprd), resources=str(plan.resources))
    return plan_dapr_children(settings, plan)

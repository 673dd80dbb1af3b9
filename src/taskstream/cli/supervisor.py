"""`taskstream up --bus kafka|dapr`: every service as its own process, supervised (local cluster mode).

The supervisor migrates the database once, starts `python -m taskstream serve SERVICE` per service with one
shared environment (bus, bootstrap, database, JWT key, service token), prefixes each child's output with its
service name, restarts a child that exits with exponential backoff, and on SIGINT/SIGTERM sends SIGTERM to
every child, waits, then kills what is left. With no bootstrap it runs Apache Kafka itself
(taskstream.devkafka, its log in <data dir>/kafka, so events survive restarts), restarts it with backoff when
it dies, and stops it after the services. With the Dapr bus each service runs beside its own daprd
(self-hosted mode, resources rendered from deploy/k8s/base/dapr) and the Dapr scheduler backs the Jobs API;
sidecars and scheduler are supervised like the services.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TextIO

import structlog

from taskstream.devdapr import DaprUnavailable
from taskstream.devkafka import BrokerError, KafkaBroker, free_port, kafka_version
from taskstream.settings import SERVICES, Settings
from taskstream.store.db import create_engine, migrate
from taskstream.store.files import private_dir

log = structlog.get_logger(__name__)

PUBLIC = ("api",)  # bound to the chosen host and port; every other service listens on 127.0.0.1
STABLE_AFTER_S = 30.0  # a child that ran this long resets its restart backoff


@dataclass
class Child:
    """One supervised process and its restart bookkeeping.

    A service child runs `python -m taskstream serve <service>` in the shared environment plus `env`; a
    child with `argv` (a daprd sidecar, the Dapr scheduler) runs that command in `env` alone, so no
    taskstream secret reaches a process that does not need it.
    """

    service: str
    port: int
    host: str
    argv: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    started_at: float = 0.0
    pump: asyncio.Task[None] | None = None
    history: list[int] = field(default_factory=list)  # exit codes, newest last


class Supervisor:
    """Runs `services` as child processes until stopped; see the module docstring."""

    def __init__(
        self,
        env: Mapping[str, str],
        children: list[Child],
        *,
        out: TextIO | None = None,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        stop_timeout_s: float = 15.0,
        broker: KafkaBroker | None = None,
    ) -> None:
        self._env = dict(env)
        self.children = children
        self.broker = broker  # started by the caller; kept running here, stopped after the children
        self._out = out or sys.stdout
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._stop_timeout_s = stop_timeout_s
        self._stopping = asyncio.Event()
        self._width = max(len(c.service) for c in children)

    def stop(self) -> None:
        """Begin a clean shutdown (what SIGINT and SIGTERM do)."""
        self._stopping.set()

    async def run(self) -> None:
        """Start every child, keep them running until stop(), then shut them down in order."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self.stop)
        watchers = [
            asyncio.create_task(self._keep_running(child), name=child.service) for child in self.children
        ]
        if self.broker is not None:
            watchers.append(asyncio.create_task(self._keep_broker_running(self.broker), name="kafka"))
        await self._stopping.wait()
        log.info("stopping services", services=[c.service for c in self.children])
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        await self._terminate_all()
        if self.broker is not None:
            await asyncio.to_thread(self.broker.stop)
            log.info("kafka broker stopped; its log stays", data=str(self.broker.log_dir))

    async def _keep_broker_running(self, broker: KafkaBroker) -> None:
        """Poll the broker's process; when it is gone, start it again on the same log, with backoff."""
        failures = 0
        while not self._stopping.is_set():
            await self._wait_unless_stopping(0.5)
            if self._stopping.is_set() or broker.running:
                continue
            delay = min(self._backoff_s * 2**failures, self._max_backoff_s)
            log.error("the kafka broker exited; restarting it", bootstrap=broker.bootstrap, in_s=delay)
            await self._wait_unless_stopping(delay)
            if self._stopping.is_set():
                return
            try:
                await asyncio.to_thread(broker.start)
            except BrokerError as error:
                failures += 1
                log.error("the kafka broker did not start", error=str(error), attempt=failures)
                continue
            failures = 0
            log.info("kafka broker restarted", bootstrap=broker.bootstrap, pid=broker.pid)

    async def _wait_unless_stopping(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _keep_running(self, child: Child) -> None:
        while not self._stopping.is_set():
            await self._spawn(child)
            assert child.process is not None
            code = await child.process.wait()
            if child.pump is not None:
                await child.pump
            child.history.append(code)
            if self._stopping.is_set():
                return
            if time.monotonic() - child.started_at > STABLE_AFTER_S:
                child.restarts = 0
            delay = min(self._backoff_s * 2**child.restarts, self._max_backoff_s)
            child.restarts += 1
            log.warning("service exited; restarting", service=child.service, code=code, in_s=delay)
            await self._wait_unless_stopping(delay)

    async def _spawn(self, child: Child) -> None:
        if child.argv is not None:
            argv, env = child.argv, child.env
        else:
            argv = [sys.executable, "-m", "taskstream", "serve", child.service]
            env = self._env | child.env | {"TASKSTREAM_HOST": child.host, "TASKSTREAM_PORT": str(child.port)}
            if child.service not in PUBLIC:  # one metrics port for one process; the others' ports are local
                env.pop("TASKSTREAM_METRICS_PORT", None)
        child.process = await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops the children in order
        )
        child.started_at = time.monotonic()
        child.pump = asyncio.create_task(self._pump(child, child.process))
        log.info(
            "service started",
            service=child.service,
            pid=child.process.pid,
            url=f"http://{child.host}:{child.port}",
        )

    async def _pump(self, child: Child, process: asyncio.subprocess.Process) -> None:
        """Copy the child's output line by line, prefixed with its service name."""
        assert process.stdout is not None
        prefix = f"{child.service:<{self._width}} | "
        while line := await process.stdout.readline():
            self._out.write(prefix + line.decode(errors="replace").rstrip("\n") + "\n")
            self._out.flush()

    async def _terminate_all(self) -> None:
        running = [c for c in self.children if c.process is not None and c.process.returncode is None]
        for child in running:
            assert child.process is not None
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signal.SIGTERM)
        waits = [asyncio.create_task(c.process.wait()) for c in running if c.process is not None]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=self._stop_timeout_s)
            if pending:
                for child in running:
                    if child.process is not None and child.process.returncode is None:
                        log.warning("service ignored SIGTERM; killing it", service=child.service)
                        with contextlib.suppress(ProcessLookupError):
                            child.process.kill()
                await asyncio.gather(*pending, return_exceptions=True)
        for child in running:
            if child.pump is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(child.pump, timeout=2)
        log.info("all services stopped")


def cluster_env(settings: Settings, *, bootstrap: str, bus: str = "kafka") -> dict[str, str]:
    """The environment every service shares: bus, bootstrap, database, data dir and JWT key."""
    env = dict(os.environ)
    env.update(
        TASKSTREAM_BUS=bus,
        TASKSTREAM_KAFKA_BOOTSTRAP=bootstrap,
        TASKSTREAM_DATABASE_URL=settings.resolved_database_url(),
        TASKSTREAM_DATA_DIR=str(settings.data_dir),
        TASKSTREAM_JWT_SECRET=settings.resolved_jwt_secret(),
        TASKSTREAM_LOG_LEVEL=settings.log_level,
        TASKSTREAM_LOG_FORMAT=settings.log_format,
    )
    if settings.resolved_database_url().startswith("sqlite"):
        # No LISTEN/NOTIFY on SQLite: the relay in its own process finds new rows by polling.
        env.setdefault("TASKSTREAM_RELAY_POLL_S", "0.25")
    return env


def plan_children(settings: Settings) -> list[Child]:
    """One child per service: api on the configured host and port, the others on free local ports."""
    return [
        Child(service, settings.port, settings.host)
        if service in PUBLIC
        else Child(service, free_port(), "127.0.0.1")
        for service in SERVICES
    ]


async def _migrate_once(settings: Settings) -> None:
    engine = create_engine(settings.resolved_database_url())
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


def own_broker(settings: Settings) -> KafkaBroker:
    """The broker `up` runs: its log in <data dir>/kafka, on the port it used last (else a free one)."""
    directory = settings.data_dir / "kafka"
    broker = KafkaBroker(directory)
    return broker if broker.last_port is not None else KafkaBroker(directory, port=free_port())


def start_own_broker(settings: Settings) -> KafkaBroker | None:
    """Adopt or start the broker of <data dir>/kafka; None (the reason logged) when it cannot start."""
    broker = own_broker(settings)
    try:
        if broker.running:
            log.info("adopting the kafka broker already running on the data dir", pid=broker.pid)
        else:
            log.info("starting Apache Kafka", data=str(broker.data_dir))
            broker.start()
    except BrokerError as error:
        log.error(
            "cannot start Apache Kafka; install Java 17+ and Maven, or pass --bootstrap HOST:PORT",
            error=str(error),
        )
        return None
    log.info(
        f"no --bootstrap given: running Apache Kafka {kafka_version()} (KRaft, one node); its log stays "
        "in the data dir across restarts, and it is restarted if it dies",
        bootstrap=broker.bootstrap,
        log=str(broker.log_dir),
    )
    return broker


def run_cluster(settings: Settings, *, bootstrap: str | None, bus: str = "kafka") -> int:
    """Run every service as its own process over Kafka until Ctrl-C; returns the exit code.

    Without `bootstrap` an Apache Kafka broker is started on <data dir>/kafka (Java 17+, and Maven once to
    fetch it), kept running, and stopped after the services; returns 1 when it cannot start. With
    bus="dapr" every service gets its own daprd sidecar and the Dapr scheduler runs too (`deploy/local/dapr
    build` first); returns 1 when they are not built.
    """
    from taskstream.runtime import kafka_security

    kafka_security(settings)  # a bad SASL or TLS setting stops here, not in six restarting children
    private_dir(settings.data_dir)
    if bus == "dapr":
        from taskstream.cli.dapr_cluster import dapr_children, find_dapr_binaries

        try:
            find_dapr_binaries()
        except DaprUnavailable as error:
            log.error("cannot run the Dapr sidecars", error=str(error))
            return 1
    broker: KafkaBroker | None = None
    if bootstrap is None:
        broker = start_own_broker(settings)
        if broker is None:
            return 1
        bootstrap = broker.bootstrap
    try:
        asyncio.run(_migrate_once(settings))
        if settings.resolved_database_url().startswith("sqlite"):
            log.info(
                "several processes share the SQLite file (WAL); use --database-url postgresql+asyncpg://… "
                "for anything beyond a demo",
                path=settings.resolved_database_url(),
            )
        children = dapr_children(settings, bootstrap) if bus == "dapr" else plan_children(settings)
        env = cluster_env(settings, bootstrap=bootstrap, bus=bus)
        supervisor = Supervisor(env, children, broker=broker)
        log.info(
            "starting services",
            bus=bus,
            bootstrap=bootstrap,
            api=f"http://{settings.host}:{settings.port}",
            realtime=next(f"ws://127.0.0.1:{c.port}/api/v1/ws" for c in children if c.service == "realtime"),
        )
        asyncio.run(supervisor.run())
    finally:
        if broker is not None:
            broker.stop()
    return 0

"""Composition root: builds the adapters and runs the chosen services in this process."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from taskstream.api.app import create_app, health_app
from taskstream.api.deps import ApiContext
from taskstream.api.metrics import MetricsServer
from taskstream.domain.clock import Clock, SystemClock
from taskstream.events import topics
from taskstream.events.envelope import CloudEvent
from taskstream.features.accounts.passwords import Passwords
from taskstream.features.accounts.service import AccountService, AuthLimits
from taskstream.features.accounts.tokens import Tokens
from taskstream.features.audit.handlers import AuditHandlers
from taskstream.features.audit.service import AuditService
from taskstream.features.notifications.handlers import NotificationHandlers
from taskstream.features.notifications.scheduler import ReminderScheduler
from taskstream.features.notifications.service import NotificationService
from taskstream.features.realtime.hub import Hub
from taskstream.features.tasks.recurring import RecurringHandlers
from taskstream.features.tasks.service import TaskService
from taskstream.health import Health
from taskstream.messaging.bus import Bus
from taskstream.messaging.inbox import (
    Consumer,
    DeadLetters,
    EphemeralConsumer,
    Prefetch,
    RetryPolicy,
    TransactionalHandler,
)
from taskstream.messaging.relay import OutboxRelay
from taskstream.settings import SERVICES, Settings, secret_value
from taskstream.store.db import create_engine, migrate, wait_for_schema
from taskstream.store.files import private_dir
from taskstream.store.notify import OutboxListener
from taskstream.store.uow import UnitOfWorkFactory
from taskstream.tracing import NO_TRACER, Tracing
from taskstream.transports.dapr import DaprBus
from taskstream.transports.memory import MemoryBus

if TYPE_CHECKING:
    from taskstream.transports.kafka import KafkaSecurity

log = structlog.get_logger(__name__)


def make_bus(settings: Settings, *, client_id: str) -> Bus:
    """The transport the settings choose."""
    if settings.bus == "memory":
        return MemoryBus()
    if settings.bus == "kafka":
        from taskstream.transports.kafka import KafkaBus

        if not settings.kafka_bootstrap:
            raise SystemExit("TASKSTREAM_KAFKA_BOOTSTRAP is required with TASKSTREAM_BUS=kafka")
        return KafkaBus(
            settings.kafka_bootstrap,
            client_id=client_id,
            partitions=settings.kafka_partitions,
            idempotence=settings.kafka_idempotence,
            security=kafka_security(settings),
            request_timeout_s=settings.kafka_request_timeout_s,
            session_timeout_s=settings.kafka_session_timeout_s,
            shutdown_timeout_s=settings.drain_timeout_s,
            health_interval_s=settings.kafka_health_interval_s,
            background_connect=True,  # a broker outage never keeps a service from starting
        )
    if settings.bus == "dapr":  # publish through the sidecar; daprd pushes deliveries
        if not secret_value(settings.dapr_app_token):  # else anyone could post events to the app's routes
            raise SystemExit(
                "TASKSTREAM_DAPR_APP_TOKEN is required with TASKSTREAM_BUS=dapr: give daprd the same value "
                "as APP_API_TOKEN, so the event and job routes refuse callers that are not the sidecar"
            )
        return DaprBus(
            http_port=settings.dapr_http_port,
            pubsub=settings.dapr_pubsub,
            app_id=f"taskstream-{client_id}",
            api_token=secret_value(settings.dapr_api_token),
            app_token=secret_value(settings.dapr_app_token),
        )
    raise SystemExit(f"bus {settings.bus!r} is not available in this build")


def kafka_security(settings: Settings) -> KafkaSecurity:
    """The Kafka clients' SASL and TLS settings; SystemExit naming the setting when they do not fit."""
    from taskstream.transports.kafka import KafkaSecurity

    try:
        security = KafkaSecurity(
            protocol=settings.kafka_security_protocol,
            mechanism=settings.kafka_sasl_mechanism,
            username=settings.kafka_sasl_username,
            password=secret_value(settings.kafka_sasl_password),
            cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None,
            certfile=str(settings.kafka_ssl_certfile) if settings.kafka_ssl_certfile else None,
            keyfile=str(settings.kafka_ssl_keyfile) if settings.kafka_ssl_keyfile else None,
        )
        security.client_options()  # loads the certificates once, so a bad file is named here
        return security
    except ValueError as error:
        raise SystemExit(f"invalid Kafka security settings (TASKSTREAM_KAFKA_*): {error}") from error


class Runtime:
    """Every dependency of the services in this process, started and stopped together."""

    def __init__(
        self,
        settings: Settings,
        *,
        services: Iterable[str] = SERVICES,
        clock: Clock | None = None,
        bus: Bus | None = None,
        passwords: Passwords | None = None,
    ) -> None:
        self.settings = settings
        self.passwords = passwords or Passwords(workers=settings.password_workers)
        self.services = tuple(services)
        unknown = set(self.services) - set(SERVICES)
        if unknown:
            raise ValueError(f"unknown service(s): {', '.join(sorted(unknown))}")
        self.clock = clock or SystemClock()
        self.tracing = Tracing(list(self.services))  # off unless OTEL_* variables ask for traces
        private_dir(settings.data_dir)  # before anything (the SQLite file, the JWT key) is made in it
        pool_size, max_overflow = settings.pool_of_one_process()
        self.engine: AsyncEngine = create_engine(
            settings.resolved_database_url(),
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout_s=settings.db_pool_timeout_s,
        )
        self.uow = UnitOfWorkFactory(self.engine)
        self.bus = bus or make_bus(settings, client_id="-".join(self.services))
        self._messaging_system = str(getattr(self.bus, "messaging_system", "unknown"))  # of the spans
        self.tasks = TaskService(self.uow, self.clock)
        self.hub = (
            Hub(per_user=settings.ws_connections_per_user, tracer=self._tracer("realtime", "api"))
            if {"api", "realtime"} & set(self.services)
            else None
        )
        self.relay = self._relay()
        self.health = Health(
            self.engine,
            uow=self.uow,
            bus=self.bus,
            bus_required=bool(set(self.services) - {"api"}),
            outbox=bool({"api", "relay"} & set(self.services)),
            clock=self.clock,
        )
        self.scheduler = ReminderScheduler(
            self.uow, self.clock, poll_s=settings.scheduler_poll_s, tracer=self._tracer("notifications")
        )
        self._dead_letters = DeadLetters(self.uow, self.bus, self.clock)
        self.dapr = self.bus if isinstance(self.bus, DaprBus) else None
        self._loops: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = []  # started by start()
        self._wakes: list[Callable[[], None]] = []  # woken by NOTIFY from other processes' commits
        self._fire_due: Callable[[], Awaitable[int]] | None = None  # the scheduler's, with notifications
        self._tasks: list[asyncio.Task[None]] = []
        self.metrics_server: MetricsServer | None = None  # with TASKSTREAM_METRICS_PORT, once started
        self._instrument()
        self._wire()

    def _instrument(self) -> None:
        """Spans of the SQL statements and, behind Dapr, of the calls to daprd (when tracing is on)."""
        if self.services:
            self.tracing.instrument_engine(self.engine, self.services[0])
        if self.services and self.dapr is not None:
            self.tracing.instrument_httpx(self.services[0])

    def _wire(self) -> None:
        """Each service of this process adds its subscriptions, background loops and wake-ups."""
        wiring: dict[str, Callable[[], None]] = {
            "api": self._wire_hub,
            "realtime": self._wire_hub,
            "relay": self._wire_relay,
            "recurring": self._wire_recurring,
            "audit": self._wire_audit,
            "notifications": self._wire_notifications,
        }
        for wire in dict.fromkeys(wiring[s] for s in self.services):  # api and realtime share one hub
            wire()

    def _consumer(
        self,
        name: str,
        handle: TransactionalHandler,
        acts_on: Callable[[CloudEvent], bool] | None = None,
        prefetch: Prefetch | None = None,
    ) -> Consumer:
        return Consumer(
            name,
            handle,
            uow=self.uow,
            clock=self.clock,
            dead_letters=self._dead_letters,
            policy=RetryPolicy(self.settings.consumer_max_attempts, self.settings.consumer_backoff_s),
            acts_on=acts_on,
            prefetch=prefetch,
            tracer=self._tracer(name),
            messaging_system=self._messaging_system,
        )

    def _relay(self) -> OutboxRelay:
        return OutboxRelay(
            self.uow,
            self.bus,
            self.clock,
            batch_size=self.settings.relay_batch_size,
            poll_s=self.settings.relay_poll_s,
            retention=self.settings.outbox_retention,
            inbox_retention=self.settings.inbox_retention,
            tracer=self._tracer("relay"),
        )

    def _tracer(self, *preferred: str) -> Any:
        """The tracer of the first of `preferred` this process runs, else of its first (no-op if none)."""
        chosen = [s for s in preferred if s in self.services] or list(self.services[:1])
        return self.tracing.tracer(chosen[0]) if chosen else NO_TRACER

    def _wire_hub(self) -> None:
        # Every process with a hub (api or realtime) subscribes in broadcast mode: the browser's /api/v1/ws on
        # the api port works without a realtime process; realtime replicas scale apart.
        assert self.hub is not None
        self.bus.subscribe(
            topics.TASK_UPDATES,
            group=None,
            handler=EphemeralConsumer(
                "realtime",
                self.hub.push,
                tracer=self._tracer("realtime", "api"),
                messaging_system=self._messaging_system,
            ),
        )

    def _wire_relay(self) -> None:
        self.uow.on_outbox_commit(self.relay.wake)
        self._wakes.append(self.relay.wake)
        self._loops.append(("relay", self.relay.run))

    def _wire_recurring(self) -> None:
        handlers = RecurringHandlers(self.tasks)
        consumer = self._consumer("recurring", handlers.handle, RecurringHandlers.acts_on)
        self.bus.subscribe(topics.TASK_EVENTS, group="recurring", handler=consumer)

    def _wire_audit(self) -> None:
        audit = AuditHandlers(self.clock)
        self.bus.subscribe(topics.TASK_EVENTS, group="audit", handler=self._consumer("audit", audit.handle))

    def _wire_notifications(self) -> None:
        notes = NotificationHandlers(self.clock)
        consumer = self._consumer("notifications", notes.handle, NotificationHandlers.acts_on, notes.prefetch)
        self.bus.subscribe(topics.REMINDERS, group="notifications", handler=consumer)
        self.uow.on_outbox_commit(self.scheduler.wake)
        self._wakes.append(self.scheduler.wake)
        self._loops.append(("scheduler", self.scheduler.run))
        self._fire_due = self.scheduler.fire_due
        if self.dapr is not None:  # a Dapr job per reminder (the poll stays the fallback)
            from taskstream.features.notifications.dapr_jobs import DaprJobs, ReminderJobs

            jobs = ReminderJobs(self.uow, self.clock, DaprJobs(self.dapr.client))
            self.bus.subscribe(topics.TASK_EVENTS, group="notifications", handler=jobs.on_task_event)
            self._loops.append(("dapr-jobs", jobs.run))

    async def start(self, *, background: bool = True) -> None:
        """Migrate (api/relay only), connect the bus, start the loops (tests may drive them by hand)."""
        if {"api", "relay"} & set(self.services):
            await migrate(self.engine)
        else:
            await wait_for_schema(self.engine)
        await self.bus.start()
        if not background:
            return
        for name, loop in self._loops:
            self._tasks.append(asyncio.create_task(loop(), name=name))
        if self.settings.metrics_port is not None:
            self.metrics_server = MetricsServer(
                self.settings.host,
                self.settings.metrics_port,
                token=self.settings.metrics_token,
                refresh=self.health.refresh_metrics,
                loop=asyncio.get_running_loop(),
            )
            self.metrics_server.start()
        if self.uow.profile.listen_notify and self._wakes:
            # PostgreSQL: NOTIFY from other processes' commits wakes this process's relay and scheduler.
            listener = OutboxListener(self.engine.url, self._wakes)
            self._tasks.append(asyncio.create_task(listener.run(), name="outbox-listener"))
        log.info(
            "services started",
            services=list(self.services),
            database=self.uow.profile.name,
            bus=self.settings.bus,
        )

    async def stop(self) -> None:
        """Stop the loops, drain the bus, close the database."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.metrics_server is not None:
            await asyncio.to_thread(self.metrics_server.stop)
            self.metrics_server = None
        await self.bus.stop()
        self.uow.close()
        await self.engine.dispose()
        await asyncio.to_thread(self.tracing.shutdown)  # exports the spans still buffered
        log.info("services stopped", services=list(self.services))

    async def drain(self, *, rounds: int = 50) -> None:
        """Fire due reminders and relay outbox rows until nothing is left (for tests with a fixed clock)."""
        for _ in range(rounds):
            fired = await self._fire_due() if self._fire_due is not None else 0
            sent = await self.relay.drain_once()
            if not fired and not sent:
                return
        raise RuntimeError("events keep coming after many rounds")

    def api_context(self) -> ApiContext:
        """The context the api routes use."""
        wake = self.scheduler.wake if self._fire_due is not None else None
        ctx = ApiContext(
            settings=self.settings,
            uow=self.uow,
            clock=self.clock,
            tasks=self.tasks,
            accounts=AccountService(self.uow, self.clock, self.passwords, AuthLimits.of(self.settings)),
            audit=AuditService(self.uow),
            notifications=NotificationService(self.uow, self.clock, wake_scheduler=wake),
            tokens=Tokens(self.settings.resolved_jwt_secret(), ttl_s=self.settings.token_ttl_s),
            hub=self.hub,
        )
        ctx.accounts.on_sign_out = ctx.forget  # this process's sign-outs, at once
        if self.hub is not None:  # and every process's, when their event arrives
            self.hub.on_sign_out = ctx.forget
        return ctx

    def build_app(self, *, freeze_heap: bool = False) -> FastAPI:
        """The HTTP app of this process; its lifespan starts and stops the runtime.

        freeze_heap (for a server process): once started, move every object alive to the garbage collector's
        permanent generation (gc.freeze). They live as long as the process, and each full collection would
        walk them again: with about 140,000 of them, a pause of ~80 ms every few hundred requests
        (benchmark 3; ~1 ms once frozen).
        """
        if {"api", "realtime"} & set(self.services):
            app = create_app(self.api_context(), self.engine, serve_ui="api" in self.services)
            self.tracing.instrument_app(app, "api" if "api" in self.services else "realtime")
        else:
            app = health_app(
                self.engine, title=f"taskstream {'+'.join(self.services)}", settings=self.settings
            )

        app.state.health = self.health
        self._include_dapr_routes(app)

        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            await self.start()
            if freeze_heap:
                gc.collect()
                gc.freeze()
            try:
                yield
            finally:
                await self.stop()

        app.router.lifespan_context = lifespan
        return app

    def _include_dapr_routes(self, app: FastAPI) -> None:
        """With the Dapr bus: /dapr/events/{topic}, and /job/{name} for notifications."""
        from taskstream.transports.dapr_routes import dapr_router

        if self.dapr is None:
            return
        fire_due = self._fire_due
        on_job = (lambda _name: fire_due()) if fire_due is not None else None
        app.include_router(dapr_router(self.dapr, on_job=on_job))

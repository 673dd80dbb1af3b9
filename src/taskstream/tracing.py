"""OpenTelemetry tracing, configured by the standard OTEL_* environment variables alone.

Off unless OTEL_TRACES_EXPORTER names an exporter (`otlp`, `console`) or an OTLP endpoint is set
(OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT); OTEL_SDK_DISABLED=true turns it off. The
OTLP exporter speaks http/protobuf (OTEL_EXPORTER_OTLP_PROTOCOL; `grpc` is refused with a message, since the
gRPC exporter is not installed). The sampler is OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG, read by the
SDK.

Each service a process runs has its own TracerProvider, so its spans carry `service.name`
`taskstream-<service>` (or OTEL_SERVICE_NAME when set), also when `taskstream up` runs every service in
one process. The trace of a user action is carried by the CloudEvent's `traceparent` (W3C Trace Context):
the event is made inside the span that caused it (envelope.make_event), the relay's PRODUCER span and each
consumer's CONSUMER span are children of that context, and what a consumer writes is made inside its
CONSUMER span.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.context import Context, attach, detach
from opentelemetry.trace import Link, NoOpTracer, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from taskstream.api.middleware import HardenedApp

INSTRUMENTATION = "taskstream"
TRACEPARENT = "traceparent"  # the W3C Trace Context header, and the CloudEvents distributed-tracing attribute
_PROPAGATOR = TraceContextTextMapPropagator()
NO_TRACER: Tracer = NoOpTracer()


class TracingConfigError(ValueError):
    """An OTEL_* variable asks for something taskstream cannot do (the message names the variable)."""


def enabled(env: Mapping[str, str] = os.environ) -> bool:
    """True when the OTEL_* variables ask for traces to be exported."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return bool(env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def context_of(traceparent: str | None) -> Context | None:
    """The remote span context a W3C `traceparent` names (None when absent or malformed)."""
    if not traceparent:
        return None
    context = _PROPAGATOR.extract({"traceparent": traceparent})
    return context if trace.get_current_span(context).get_span_context().is_valid else None


@contextmanager
def continuing(traceparent: str | None) -> Iterator[None]:
    """The span `traceparent` names is the current context while inside (nothing changes when None), so
    instrumented calls made inside (httpx to daprd) are its children and carry it on."""
    remote = context_of(traceparent)
    if remote is None:
        yield
        return
    token = attach(remote)
    try:
        yield
    finally:
        detach(token)


def traceparent_of(span: Any) -> str:
    """The W3C `traceparent` naming `span`."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
    return carrier["traceparent"]


def current_traceparent() -> str | None:
    """The `traceparent` of the current span, or None outside a valid span."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def _exporters(env: Mapping[str, str]) -> list[Any]:
    names = [n.strip().lower() for n in env.get("OTEL_TRACES_EXPORTER", "otlp").split(",") if n.strip()]
    made: list[Any] = []
    for name in names:
        if name == "otlp":
            protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get(
                "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
            )
            if protocol.strip() != "http/protobuf":
                raise TracingConfigError(
                    f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: only http/protobuf is supported "
                    "(an OTLP collector listens for it on port 4318)"
                )
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            made.append(OTLPSpanExporter())
        elif name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            made.append(ConsoleSpanExporter())
        elif name != "none":
            raise TracingConfigError(f"OTEL_TRACES_EXPORTER={name!r}: use otlp, console or none")
    return made


class Tracing:
    """The tracer providers of one process: one per service it runs (no-op tracers when tracing is off)."""

    def __init__(self, services: list[str], env: Mapping[str, str] = os.environ) -> None:
        self.enabled = enabled(env)
        self._providers: dict[str, Any] = {}
        if not self.enabled:
            return
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        fixed = env.get("OTEL_SERVICE_NAME")
        for service in services:
            # Resource.create adds OTEL_RESOURCE_ATTRIBUTES; service.name is taskstream's unless fixed.
            resource = Resource.create({SERVICE_NAME: fixed or f"taskstream-{service}"})
            provider = TracerProvider(resource=resource)  # the sampler comes from OTEL_TRACES_SAMPLER
            for exporter in _exporters(env):
                provider.add_span_processor(BatchSpanProcessor(exporter))
            self._providers[service] = provider
        if services:
            trace.set_tracer_provider(self._providers[services[0]])

    def provider(self, service: str) -> Any:
        """The TracerProvider of `service` (None when tracing is off)."""
        return self._providers.get(service)

    def tracer(self, service: str) -> Tracer:
        """The tracer whose spans name `service` (a no-op tracer when tracing is off)."""
        provider = self._providers.get(service)
        return provider.get_tracer(INSTRUMENTATION) if provider is not None else NO_TRACER

    def instrument_app(self, app: HardenedApp, service: str) -> None:
        """A SERVER span per HTTP request and WebSocket (OpenTelemetry's ASGI middleware around the whole
        app), named and attributed by its route template (`POST /api/v1/tasks/{task_id}/complete`)."""
        if not self.enabled:
            return
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        provider = self._providers[service]

        def wrap(inner: ASGIApp) -> ASGIApp:
            return OpenTelemetryMiddleware(
                _RouteNames(inner),
                tracer_provider=provider,
                exclude_spans=["receive", "send"],
                excluded_urls="/healthz,/readyz,/metrics",  # probes and scrapes are not user actions
            )

        app.outer_middleware = [*getattr(app, "outer_middleware", []), wrap]

    def instrument_engine(self, engine: AsyncEngine, service: str) -> None:
        """A CLIENT span per SQL statement (SQLAlchemy instrumentation)."""
        if self.enabled:
            from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

            # Its declared range stops below SQLAlchemy 2.1; the engine events it uses are unchanged there.
            SQLAlchemyInstrumentor().instrument(
                engine=engine.sync_engine,
                tracer_provider=self._providers[service],
                enable_commenter=False,
                skip_dep_check=True,
            )

    def instrument_httpx(self, service: str) -> None:
        """A CLIENT span per outgoing HTTP request (to daprd), with W3C trace context in its headers."""
        if self.enabled:
            from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

            HTTPXClientInstrumentor().instrument(tracer_provider=self._providers[service])

    def shutdown(self) -> None:
        """Export what is buffered and stop the exporters."""
        for provider in self._providers.values():
            provider.shutdown()


def messaging_attributes(
    system: str, topic: str, operation: str, *, group: str | None = None, message_id: str | None = None
) -> dict[str, str]:
    """OpenTelemetry messaging semantic-convention attributes of one message."""
    attributes = {
        "messaging.system": system,
        "messaging.destination.name": topic,
        "messaging.operation.type": operation,
    }
    if group is not None:
        attributes["messaging.consumer.group.name"] = group
    if message_id is not None:
        attributes["messaging.message.id"] = message_id
    return attributes


@contextmanager
def consuming(
    tracer: Tracer, system: str, topic: str, group: str, event_id: str, traceparent: str | None
) -> Iterator[None]:
    """A CONSUMER span `process <topic>` whose parent is the event's trace context, current while inside."""
    if tracer is NO_TRACER:  # tracing off: not even the traceparent is parsed
        yield
        return
    with tracer.start_as_current_span(
        f"process {topic}",
        context=context_of(traceparent),
        kind=SpanKind.CONSUMER,
        attributes=messaging_attributes(system, topic, "process", group=group, message_id=event_id),
    ):
        yield


@contextmanager
def linked_root(
    tracer: Tracer, name: str, linked_traceparent: str | None, attributes: Mapping[str, str]
) -> Iterator[None]:
    """A span `name` that starts a new trace (something time started, not a request), linked to the span
    `linked_traceparent` names when there is one; current while inside."""
    if tracer is NO_TRACER:
        yield
        return
    linked = context_of(linked_traceparent)
    links = [Link(trace.get_current_span(linked).get_span_context())] if linked is not None else None
    with tracer.start_as_current_span(name, context=Context(), links=links, attributes=attributes):
        yield


class _RouteNames:
    """Inside the ASGI server span: once routed, the span is named by the route template, not the raw path
    (set when the answer starts, while the span is still open)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        span = trace.get_current_span()
        named = False

        async def naming_send(message: Message) -> None:
            nonlocal named
            if not named:
                named = True
                path = route_template(scope)
                if path is not None:
                    span.set_attribute("http.route", path)
                    span.update_name(f"{scope.get('method', 'WEBSOCKET')} {path}")
            await send(message)

        await self.app(scope, receive, naming_send)


def route_template(scope: Scope) -> str | None:
    """The matched route's full path template (None before routing, or for a 404). FastAPI keeps the
    prefixed template of a route of an included router in its effective route context."""
    effective = (scope.get("fastapi") or {}).get("effective_route_context")
    return getattr(effective, "path", None) or getattr(scope.get("route"), "path", None)

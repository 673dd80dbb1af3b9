"""Tracing configuration from the OTEL_* variables, and the trace context an event carries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from opentelemetry.sdk.trace import TracerProvider

from taskstream.events.envelope import make_event
from taskstream.tracing import Tracing, TracingConfigError, context_of, enabled


@pytest.mark.parametrize(
    ("env", "on"),
    [
        ({}, False),
        ({"OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_tracing_is_on_only_when_the_standard_variables_ask(env: dict[str, str], on: bool) -> None:
    assert enabled(env) is on
    tracing = Tracing(["api"], env)
    try:
        assert tracing.enabled is on
    finally:
        tracing.shutdown()  # the process-wide provider it set exports nothing later


def test_an_unsupported_protocol_or_exporter_is_refused_naming_the_variable() -> None:
    with pytest.raises(TracingConfigError, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        Tracing(["api"], {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    with pytest.raises(TracingConfigError, match="OTEL_TRACES_EXPORTER"):
        Tracing(["api"], {"OTEL_TRACES_EXPORTER": "zipkin"})


def test_each_service_names_itself() -> None:
    tracing = Tracing(["api", "relay"], {"OTEL_TRACES_EXPORTER": "console"})
    try:
        names = {s: tracing.provider(s).resource.attributes["service.name"] for s in ("api", "relay")}
        assert names == {"api": "taskstream-api", "relay": "taskstream-relay"}
    finally:
        tracing.shutdown()


def test_an_event_made_inside_a_span_continues_its_trace() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        event = make_event("t", subject="s", partitionkey="u", data={}, time=datetime.now(UTC))
    context = span.get_span_context()
    assert event.traceparent and event.traceparent.startswith(
        f"00-{context.trace_id:032x}-{context.span_id:016x}-"
    )
    outside = make_event("t", subject="s", partitionkey="u", data={}, time=datetime.now(UTC))
    assert outside.traceparent and outside.traceparent.split("-")[1] != f"{context.trace_id:032x}"


def test_a_malformed_traceparent_starts_no_context() -> None:
    assert context_of(None) is None and context_of("garbage") is None
    assert context_of("00-" + "0" * 32 + "-" + "0" * 16 + "-01") is None
    assert context_of(f"00-{'a' * 32}-{'b' * 16}-01") is not None

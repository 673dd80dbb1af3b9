"""The published event schema matches the models, and the envelope round-trips."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from taskstream.events.envelope import CloudEvent, make_event
from taskstream.events.schema import render

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events.schema.json"


def test_docs_schema_is_current() -> None:
    assert DOCS.read_text() == render(), "run: python -m taskstream.events.schema > docs/events.schema.json"


def test_envelope_round_trip_keeps_extensions_and_ignores_unknown() -> None:
    event = make_event(
        "com.taskstream.task.created.v1",
        subject="t1",
        partitionkey="u1",
        data={"a": 1},
        time=datetime(2026, 1, 1, tzinfo=UTC),
    )
    parsed = CloudEvent.from_json(event.to_json())
    assert (parsed.id, parsed.partitionkey, parsed.subject, parsed.specversion) == (
        event.id,
        "u1",
        "t1",
        "1.0",
    )
    assert parsed.traceparent is not None and parsed.traceparent.startswith("00-")
    extra = CloudEvent.from_json(event.to_json().replace(b'"data"', b'"newattr":"x","data"'))
    assert extra.id == event.id

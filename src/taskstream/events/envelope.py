"""CloudEvents 1.0 envelope in structured JSON mode, with the `partitionkey` and `traceparent` extensions."""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from taskstream.tracing import current_traceparent

SOURCE = "/taskstream"


class CloudEvent(BaseModel):
    """A CloudEvent 1.0 (structured mode). Unknown attributes are kept and ignored."""

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: str
    source: str = SOURCE
    type: str
    subject: str | None = None
    time: datetime
    datacontenttype: str = "application/json"
    partitionkey: str = Field(description="The user id: one user's events keep their order.")
    traceparent: str | None = None
    data: dict[str, Any]

    def to_json(self) -> bytes:
        """The event as UTF-8 JSON bytes (structured mode)."""
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> CloudEvent:
        """Parse structured-mode JSON; raises pydantic.ValidationError on a malformed envelope."""
        return cls.model_validate_json(raw)


def new_event_id() -> str:
    """A fresh, unique CloudEvent id (UUID4 string)."""
    return str(uuid.uuid4())


def new_traceparent() -> str:
    """A fresh W3C trace context `traceparent` value (version 00, sampled)."""
    return f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-01"


def make_event(
    type_: str,
    *,
    subject: str,
    partitionkey: str,
    data: dict[str, Any],
    time: datetime,
    event_id: str | None = None,
    traceparent: str | None = None,
) -> CloudEvent:
    """Build a CloudEvent with a new id (unless given). Its `traceparent` is the one given, else the current
    span's (so the event continues the trace of what caused it), else a fresh one."""
    return CloudEvent(
        id=event_id or new_event_id(),
        type=type_,
        subject=subject,
        time=time,
        partitionkey=partitionkey,
        traceparent=traceparent or current_traceparent() or new_traceparent(),
        data=data,
    )

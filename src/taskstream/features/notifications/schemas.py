"""Request and response bodies of the notifications endpoints."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field


class NotificationOut(BaseModel):
    id: str
    task_id: str
    title: str
    due_at: str | None
    remind_at: datetime
    created_at: datetime
    read_at: datetime | None


class SnoozeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    for_: timedelta = Field(
        alias="for",
        gt=timedelta(0),
        le=timedelta(days=366),
        description='ISO 8601 duration after now, e.g. "PT10M"; more than zero, at most P366D',
    )

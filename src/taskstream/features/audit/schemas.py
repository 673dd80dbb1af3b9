"""Response bodies of the audit endpoints."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class AuditOut(BaseModel):
    id: int
    event_id: str
    task_id: str
    event_type: str
    title: str
    changes: dict[str, object]
    actor: str
    occurred_at: datetime

"""JSON Schema of the event contract (envelope and every payload), published as docs/events.schema.json."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from taskstream.events.envelope import CloudEvent
from taskstream.events.payloads import (
    ACCOUNT_DELETED,
    NOTIFICATION_CREATED,
    NOTIFICATION_READ,
    REMINDER_DUE,
    SESSIONS_REVOKED,
    TASK_EVENT_TYPES,
    AccountDeletedData,
    NotificationData,
    NotificationReadData,
    ReminderDueData,
    SessionsRevokedData,
    TaskEventData,
)
from taskstream.events.topics import REMINDERS, TASK_EVENTS, TASK_UPDATES

PAYLOADS: dict[str, tuple[type[BaseModel], tuple[str, ...]]] = {
    **{t: (TaskEventData, (TASK_EVENTS, TASK_UPDATES)) for t in TASK_EVENT_TYPES.values()},
    REMINDER_DUE: (ReminderDueData, (REMINDERS,)),
    NOTIFICATION_CREATED: (NotificationData, (TASK_UPDATES,)),
    NOTIFICATION_READ: (NotificationReadData, (TASK_UPDATES,)),
    SESSIONS_REVOKED: (SessionsRevokedData, (TASK_UPDATES,)),
    ACCOUNT_DELETED: (AccountDeletedData, (TASK_EVENTS, REMINDERS, TASK_UPDATES)),
}


def contract() -> dict[str, Any]:
    """The whole contract as one JSON document: envelope schema, and per type its topics and data schema."""
    return {
        "title": "taskstream event contract",
        "envelope": CloudEvent.model_json_schema(),
        "types": {
            name: {"topics": list(topics), "data": model.model_json_schema()}
            for name, (model, topics) in sorted(PAYLOADS.items())
        },
    }


def render() -> str:
    """The contract as stable, indented JSON text."""
    return json.dumps(contract(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")

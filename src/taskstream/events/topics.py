"""Topic names (fixed by the design) and their dead-letter topics."""

from __future__ import annotations

TASK_EVENTS = "task-events"
REMINDERS = "reminders"
TASK_UPDATES = "task-updates"

ALL_TOPICS: tuple[str, ...] = (TASK_EVENTS, REMINDERS, TASK_UPDATES)


def dead_letter_topic(topic: str) -> str:
    """The dead-letter topic of `topic`: "<topic>.dlq"."""
    return f"{topic}.dlq"

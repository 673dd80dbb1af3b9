"""Topic names (fixed by the design) and their dead-letter topics."""

from __future__ import annotations

TASK_EVENTS = "task-events"
REMINDERS = "reminders"
TASK_UPDATES = "task-updates"

ALL_TOPICS: tuple[str, ...] = (TASK_EVENTS, REMINDERS, TASK_UPDATES)


DEAD_LETTER_SUFFIX = ".dlq"


def dead_letter_topic(topic: str) -> str:
    """The dead-letter topic of `topic`: "<topic>.dlq"."""
    return f"{topic}{DEAD_LETTER_SUFFIX}"


def with_dead_letter_topic(topic: str) -> tuple[str, ...]:
    """`topic` and its dead-letter topic; a dead-letter topic alone (it has none of its own)."""
    return (topic,) if topic.endswith(DEAD_LETTER_SUFFIX) else (topic, dead_letter_topic(topic))

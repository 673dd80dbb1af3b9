"""taskstream: an event-driven task manager (tasks, RRULE recurrence, reminders, live updates)."""

__version__ = "0.1.0"

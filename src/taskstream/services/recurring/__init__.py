"""Recurring-task service: creates the next occurrence when an occurrence is completed."""

"""Audit: the history of every task change, built from task-events."""

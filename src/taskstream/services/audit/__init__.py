"""Audit service: an append-only history of every task event."""

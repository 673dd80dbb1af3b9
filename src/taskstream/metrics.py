"""Prometheus metrics of this process (served at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

EVENTS_RELAYED = Counter("taskstream_events_relayed_total", "Outbox rows published to the bus", ["topic"])
EVENTS_CONSUMED = Counter(
    "taskstream_events_consumed_total", "Events handled by a consumer, by outcome", ["consumer", "outcome"]
)
REMINDERS_FIRED = Counter("taskstream_reminders_fired_total", "Reminder rows fired by the scheduler")
WEBSOCKETS = Gauge("taskstream_websocket_connections", "Open WebSocket connections")

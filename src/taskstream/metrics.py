"""Prometheus metrics of this process (served at /metrics)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

EVENTS_RELAYED = Counter("taskstream_events_relayed_total", "Outbox rows published to the bus", ["topic"])
RELAY_PUBLISH_FAILURES = Counter(
    "taskstream_relay_publish_failures_total",
    "Outbox rows a publish attempt left unconfirmed (they stay in the outbox and are sent again)",
    ["topic"],
)
EVENTS_CONSUMED = Counter(
    "taskstream_events_consumed_total", "Events handled by a consumer, by outcome", ["consumer", "outcome"]
)
CONSUMER_RETRIES = Counter(
    "taskstream_consumer_retries_total",
    "Handler attempts that failed and are tried again (after the last one the event is dead-lettered)",
    ["consumer"],
)
REMINDERS_FIRED = Counter("taskstream_reminders_fired_total", "Reminder rows fired by the scheduler")
# stage "fired": the scheduler claimed the row and wrote reminder.due; "delivered": the notifications consumer
# recorded the notification (and it was pushed). The difference is the relay, the bus and the consumer.
REMINDER_LATENESS = Histogram(
    "taskstream_reminder_lateness_seconds",
    "Seconds from a reminder's fire time to the stage named",
    ["stage"],
    buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
)
WEBSOCKETS = Gauge("taskstream_websocket_connections", "Open WebSocket connections")
WEBSOCKET_PUSHES = Counter(
    "taskstream_websocket_pushes_total",
    "Events sent to one WebSocket, by outcome (dropped: the send failed and the socket was closed)",
    ["outcome"],
)
# route: the matched route's template (`/api/v1/tasks/{task_id}`), never the raw path; "unmatched" for 404s.
HTTP_DURATION = Histogram(
    "taskstream_http_request_duration_seconds",
    "Seconds from an HTTP request's arrival to the end of its answer",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DEAD_LETTERS = Counter(
    "taskstream_dead_letters_total",
    "Events a consumer gave up on (sent to <topic>.dlq)",
    ["consumer", "topic"],
)

# Refreshed on every scrape of /metrics (taskstream.health.Health.refresh_metrics).
BROKER_REACHABLE = Gauge(
    "taskstream_broker_reachable", "1 while this process's bus reaches its broker (always 1 in process)"
)
KAFKA_CLUSTER_CHANGES = Counter(
    "taskstream_kafka_cluster_changes_total",
    "Times the Kafka cluster id changed under this process (a wiped or replaced broker)",
)


class ProcessFigures(Collector):
    """Gauges that exist only in the processes that have them, so none exports a misleading 0: the outbox
    backlog (api, relay) and the consumer lag (processes with consumer groups)."""

    def __init__(self) -> None:
        self.outbox: tuple[int, float] | None = None  # (unsent rows, age of the oldest in seconds)
        self.lag: dict[tuple[str, str], int] = {}  # (group, topic) -> messages

    def collect(self) -> Iterator[Metric]:
        if self.outbox is not None:
            yield GaugeMetricFamily(
                "taskstream_outbox_unsent_rows", "Outbox rows waiting to be published", value=self.outbox[0]
            )
            yield GaugeMetricFamily(
                "taskstream_outbox_oldest_unsent_age_seconds",
                "Age of the oldest unsent outbox row (0 when none)",
                value=self.outbox[1],
            )
        if self.lag:
            lag = GaugeMetricFamily(
                "taskstream_consumer_lag_messages",
                "Messages of a topic not yet consumed and committed by this process's member of the group",
                labels=["group", "topic"],
            )
            for (group, topic), value in sorted(self.lag.items()):
                lag.add_metric([group, topic], value)
            yield lag


FIGURES = ProcessFigures()
REGISTRY.register(FIGURES)

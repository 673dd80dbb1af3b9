"""Prometheus metrics of this process (served at /metrics)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

EVENTS_RELAYED = Counter("taskstream_events_relayed_total", "Outbox rows published to the bus", ["topic"])
EVENTS_CONSUMED = Counter(
    "taskstream_events_consumed_total", "Events handled by a consumer, by outcome", ["consumer", "outcome"]
)
REMINDERS_FIRED = Counter("taskstream_reminders_fired_total", "Reminder rows fired by the scheduler")
WEBSOCKETS = Gauge("taskstream_websocket_connections", "Open WebSocket connections")
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

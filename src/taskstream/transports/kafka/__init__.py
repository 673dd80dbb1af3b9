"""Kafka transport for the bus (aiokafka): idempotent acks=all producer keyed by user id; commit when handled.

Consumers hand each partition's share of a fetch (at most 100 records) to a batch handler at once and to
other handlers one by one, and commit right after the handlers returned, so a crash repeats at most what was
in flight. A handler that raises is not skipped: the consumer seeks back to it and tries again after a
backoff (growing up to max_retry_backoff_s) until it succeeds or stop() is called; retry limits and
dead-lettering live above this adapter. Order per partition key holds: the idempotent producer
lets the broker drop a retried batch it already has, and aiokafka keeps one request in flight per partition.

A watchdog probes the broker every health_interval_s seconds (cluster metadata and the topic list):
- unreachable: logged at error level once per outage, reported by health(); consumption pauses until the
  broker answers again, so no fetch runs against a broker whose identity is unknown;
- a different cluster id (the cluster was wiped or replaced) or a topic gone: logged at error level, the
  topics are created again and every consumer of them resumes from the earliest offset. What the old log
  held and no consumer had read is lost to the bus; the outbox keeps sent rows for that case
  (`taskstream outbox replay`).
"""

from taskstream.transports.kafka.bus import KafkaBus
from taskstream.transports.kafka.config import KafkaConfig, KafkaSecurity

__all__ = ["KafkaBus", "KafkaConfig", "KafkaSecurity"]

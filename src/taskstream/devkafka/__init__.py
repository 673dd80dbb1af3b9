"""A real Apache Kafka broker (KRaft, its log on disk) for development and tests: see `broker`."""

from taskstream.devkafka.broker import (
    BrokerError,
    KafkaBroker,
    Listener,
    ensure_jars,
    free_port,
    kafka_metadata_ok,
    kafka_version,
)

__all__ = [
    "BrokerError",
    "KafkaBroker",
    "Listener",
    "ensure_jars",
    "free_port",
    "kafka_metadata_ok",
    "kafka_version",
]

"""A real Apache Kafka broker (KRaft, its log on disk) for development and tests: see `broker`."""

from taskstream.devkafka.broker import KafkaBroker, Listener
from taskstream.devkafka.jars import BrokerError, ensure_jars, kafka_version
from taskstream.devkafka.net import free_port, kafka_metadata_ok

__all__ = [
    "BrokerError",
    "KafkaBroker",
    "Listener",
    "ensure_jars",
    "free_port",
    "kafka_metadata_ok",
    "kafka_version",
]

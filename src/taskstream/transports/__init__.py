"""Transports behind the bus contract: in-process memory, Kafka, Dapr pub/sub."""

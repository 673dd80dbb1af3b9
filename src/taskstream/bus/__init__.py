"""Event transport: one small publish/subscribe interface with memory, Kafka and Dapr adapters."""

"""Messaging apart from any transport: the bus contract, outbox, relay, inbox consumer, dead letters."""

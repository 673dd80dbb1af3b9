"""What every client of one Kafka bus shares: where the broker is, how to reach it, and the timings."""

from __future__ import annotations

import asyncio
import os
import ssl
from dataclasses import dataclass, field
from typing import Any

from aiokafka.helpers import create_ssl_context

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True)
class KafkaSecurity:
    """How every client of the bus authenticates and encrypts (managed Kafka needs SASL over TLS).

    protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL. With SSL/SASL_SSL the broker's certificate is
    checked against `cafile` (PEM; default: the system's trusted CAs) and its host name; `certfile` (PEM,
    with `keyfile` unless the key is in the same file) is the client certificate for brokers that ask for
    one. With SASL_*: `mechanism` PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 and `username`/`password`.
    Raises ValueError naming the setting when a combination is incomplete.
    """

    protocol: str = "PLAINTEXT"
    mechanism: str | None = None
    username: str | None = None
    password: str | None = None
    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None

    def __post_init__(self) -> None:
        if self.protocol not in SECURITY_PROTOCOLS:
            raise ValueError(f"kafka_security_protocol: one of {', '.join(SECURITY_PROTOCOLS)}")
        if self.protocol.startswith("SASL_"):
            if self.mechanism not in SASL_MECHANISMS:
                raise ValueError(f"kafka_sasl_mechanism: one of {', '.join(SASL_MECHANISMS)} with SASL")
            if not self.username or self.password is None:
                raise ValueError("kafka_sasl_username and kafka_sasl_password are required with SASL")
        if self.keyfile and not self.certfile:
            raise ValueError("kafka_ssl_keyfile needs kafka_ssl_certfile")
        for name, path in (("cafile", self.cafile), ("certfile", self.certfile), ("keyfile", self.keyfile)):
            if path is not None and not os.path.isfile(path):
                raise ValueError(f"kafka_ssl_{name}: no readable file at {path}")

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for every aiokafka client (producer, consumers, admin).

        Raises ValueError naming the setting when a certificate or key file is not valid PEM.
        """
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.protocol in ("SSL", "SASL_SSL"):
            try:
                options["ssl_context"] = create_ssl_context(
                    cafile=self.cafile, certfile=self.certfile, keyfile=self.keyfile
                )
            except (ssl.SSLError, OSError) as error:
                raise ValueError(
                    f"kafka_ssl_cafile, kafka_ssl_certfile or kafka_ssl_keyfile is not valid PEM: {error}"
                ) from error
        if self.protocol.startswith("SASL_"):
            options.update(
                sasl_mechanism=self.mechanism,
                sasl_plain_username=self.username,
                sasl_plain_password=self.password,
            )
        return options


@dataclass(frozen=True)
class KafkaConfig:
    """The settings of one bus (see KafkaBus for each); times in seconds unless the name says ms."""

    bootstrap: str
    client_id: str
    partitions: int = 6
    replication_factor: int = 1
    idempotence: bool = True
    client_options: dict[str, Any] = field(default_factory=dict)
    request_timeout_s: float = 10.0
    connect_timeout_s: float = 20.0
    session_timeout_s: float = 10.0
    linger_ms: int = 5
    # How long a fetch long-polls the broker when there is nothing to read. Kafka answers as soon as a
    # record arrives, so this costs no latency (publish to handled stays ~10 ms); 500 ms instead of 10 ms
    # took an idle consumer from ~8 % of a core to ~1 % (the fetches it no longer makes).
    fetch_max_wait_ms: int = 500
    retry_backoff_s: float = 0.5
    max_retry_backoff_s: float = 10.0
    shutdown_timeout_s: float = 10.0
    health_interval_s: float = 2.0


async def sleep_unless(stopping: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less when `stopping` is set meanwhile."""
    try:
        await asyncio.wait_for(stopping.wait(), timeout=seconds)
    except TimeoutError:
        pass

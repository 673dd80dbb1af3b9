"""One settings class: environment variables prefixed TASKSTREAM_ (pydantic-settings)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES = ("api", "relay", "recurring", "notifications", "audit", "realtime")


def secret_value(secret: SecretStr | None) -> str | None:
    """The text of an optional secret setting."""
    return secret.get_secret_value() if secret is not None else None


def default_data_dir() -> Path:
    """Where the embedded mode keeps its SQLite file: ~/.local/share/taskstream (survives restarts)."""
    return Path.home() / ".local" / "share" / "taskstream"


class Settings(BaseSettings):
    """Every setting of every service; read from TASKSTREAM_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="TASKSTREAM_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = Field(
        None, description="SQLAlchemy async URL; default sqlite+aiosqlite:///<data_dir>/taskstream.db"
    )
    db_pool_size: int = Field(10, ge=1)
    db_max_overflow: int = Field(10, ge=0)
    db_pool_timeout_s: float = Field(5.0, gt=0)
    workers: int = Field(1, ge=1, le=64, description="api processes sharing the port (serve api --workers)")

    bus: Literal["memory", "kafka", "dapr"] = "memory"
    kafka_bootstrap: str | None = None
    kafka_partitions: int = Field(6, ge=1)
    kafka_idempotence: bool = True
    kafka_session_timeout_s: float = Field(
        10.0, gt=0, description="Consumer group session timeout, seconds; lower means faster rebalances"
    )
    kafka_request_timeout_s: float = Field(
        10.0, gt=0, description="Longest wait for one broker request (a publish, a probe), seconds"
    )
    kafka_health_interval_s: float = Field(
        2.0, gt=0, description="Seconds between broker probes (unreachable broker, wiped cluster, lost topic)"
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = Field(
        None, description="PEM file of the CAs that sign the broker's certificate (default: the system's)"
    )
    kafka_ssl_certfile: Path | None = Field(None, description="PEM client certificate (mutual TLS)")
    kafka_ssl_keyfile: Path | None = Field(None, description="PEM key of the client certificate")
    dapr_http_port: int = 3500
    dapr_pubsub: str = "pubsub"
    dapr_api_token: SecretStr | None = Field(None, description="Sent to the sidecar (daprd's DAPR_API_TOKEN)")
    dapr_app_token: SecretStr | None = Field(
        None, description="Required from the sidecar (daprd's APP_API_TOKEN)"
    )

    jwt_secret: SecretStr | None = Field(
        None, description="HS256 key; default: a key kept in <data_dir>/jwt.key"
    )
    token_ttl_s: int = Field(15 * 60, ge=60, description="Access token lifetime, seconds")
    refresh_ttl_s: int = Field(
        30 * 24 * 3600, ge=300, description="A session ends when not refreshed for this long, seconds"
    )
    auth_window_s: int = Field(15 * 60, ge=1, description="Window of the sign-in and sign-up limits, seconds")
    auth_failures_per_account: int = Field(10, ge=1, description="Failed sign-ins per account per window")
    auth_failures_per_address: int = Field(
        100, ge=1, description="Failed sign-ins per client address per window"
    )
    auth_signups_per_address: int = Field(10, ge=1, description="Sign-ups per client address per window")
    password_workers: int = Field(2, ge=1, description="Threads hashing passwords (Argon2) at once")
    ws_connections_per_user: int = Field(20, ge=1, description="Open WebSockets allowed per user")

    consumer_max_attempts: int = Field(
        5, ge=1, description="Handler attempts before an event is dead-lettered"
    )
    consumer_backoff_s: float = Field(0.2, ge=0, description="First retry delay; doubles per attempt")
    relay_batch_size: int = Field(200, ge=1)
    relay_poll_s: float = Field(1.0, gt=0, description="Backstop poll interval when no wake-up arrives")
    outbox_retention: timedelta = Field(
        timedelta(days=7),
        description="How long sent outbox rows are kept for `taskstream outbox replay` "
        "(ISO 8601 duration such as P7D, or seconds)",
    )
    inbox_retention: timedelta = Field(
        timedelta(days=14),
        description="How long each consumer remembers the events it handled, so a redelivery has no second "
        "effect; at least outbox_retention, and longer than the topics keep records (ISO 8601 or seconds)",
    )
    drain_timeout_s: float = Field(
        10.0, gt=0, description="At shutdown, how long in-flight events may take to finish, seconds"
    )
    scheduler_poll_s: float = Field(1.0, gt=0, description="Longest sleep between reminder scans")
    max_request_bytes: int = Field(1_000_000, ge=1024)
    ws_max_message_bytes: int = Field(
        64 * 1024,
        ge=1024,
        description="Largest WebSocket message taken; a larger one closes the socket (1009)",
    )
    metrics_token: SecretStr | None = Field(
        None, description="When set, /metrics answers only requests with Authorization: Bearer <token>"
    )
    metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="When set, /metrics is served on this port (same host), not the API's",
    )

    log_level: str = "INFO"
    log_format: Literal["console", "json"] = "console"

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap_addresses(cls, value: str | None) -> str | None:
        """Comma-separated HOST:PORT pairs, each port 1-65535."""
        if value is None:
            return None
        for address in value.split(","):
            host, _, port = address.strip().rpartition(":")
            if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ValueError(f"{address.strip()!r} is not HOST:PORT (comma-separated, port 1-65535)")
        return value

    @field_validator("outbox_retention", "inbox_retention", mode="before")
    @classmethod
    def _seconds_or_duration(cls, value: object) -> object:
        """An environment value of digits is seconds ("3600"); anything else is read as ISO 8601 ("P7D")."""
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
        return value

    @field_validator("outbox_retention", "inbox_retention")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than zero (rows younger than it are kept)")
        return value

    @model_validator(mode="after")
    def _inbox_outlives_the_outbox(self) -> Settings:
        if self.inbox_retention < self.outbox_retention:
            raise ValueError(
                "inbox_retention must be at least outbox_retention: an event replayed from the outbox "
                "would otherwise find no inbox row and take effect twice"
            )
        return self

    def resolved_database_url(self) -> str:
        """The database URL in use (the embedded SQLite file when none is set)."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'taskstream.db'}"

    def pool_of_one_process(self) -> tuple[int, int]:
        """(pool_size, max_overflow) of one process: db_pool_size and db_max_overflow are the totals of
        the api's `workers` processes, shared out evenly (rounded up), so adding workers does
        not multiply the connections PostgreSQL has to hold."""
        return -(-self.db_pool_size // self.workers), -(-self.db_max_overflow // self.workers)

    def resolved_jwt_secret(self) -> str:
        """The signing key: the setting, else a random key created once in the data dir (mode 0600)."""
        if self.jwt_secret:
            return self.jwt_secret.get_secret_value()
        from taskstream.store.files import private_file

        path = self.data_dir / "jwt.key"
        if not path.exists() or not path.read_text().strip():
            private_file(path).write_text(secrets.token_urlsafe(48))  # 0600 before the key is written
        return path.read_text().strip()

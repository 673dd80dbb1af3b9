"""Dapr transport for the bus: publish through the sidecar's HTTP API; daprd pushes deliveries to the app.

Publishing: one `POST /v1.0/publish/<pubsub>/<topic>` per message, in order, awaiting each answer. A message
whose value is a structured CloudEvent goes as `application/cloudevents+json` (daprd keeps our envelope, its
`traceparent` included, and only adds routing attributes), with `metadata.cloudevent.id` = the event id and
`metadata.partitionKey` = the user id (Kafka keys the record with it, so one user's events keep their order).
Any other value (a malformed event on its way to a dead-letter topic) goes byte for byte with
`metadata.rawPayload=true`. Message headers travel as further `metadata.<name>` parameters, which the Kafka
component turns into record headers.

Consuming: the bus only records which handlers take which topic. daprd subscribes as its Subscription
resources say and posts each event to `/dapr/events/<topic>` (see `transports.dapr_routes`), so start()
opens no consumer connection.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from taskstream.messaging.bus import BusHealth, Handler, Message, PartialPublish
from taskstream.tracing import TRACEPARENT, continuing

log = structlog.get_logger(__name__)

CLOUDEVENT_CONTENT_TYPE = "application/cloudevents+json"
RAW_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class DaprSubscription:
    """One handler of the app: `pubsub` is the Dapr component it arrives through; group=None is broadcast."""

    pubsub: str
    topic: str
    group: str | None
    handler: Handler


def publish_request(message: Message) -> tuple[dict[str, str], str, bytes]:
    """The query parameters, content type and body for publishing `message` through the Dapr pub/sub HTTP
    API.

    A structured CloudEvent goes with `traceid` (Dapr's older name for the trace attribute) set to its own
    `traceparent`: daprd fills both from its own span only when the envelope has no `traceid`, so every
    consumer continues the trace the event was made in, whatever the sidecars' sampling. The message's
    `traceparent` header is the context of the call to daprd (see DaprBus.publish), not metadata.
    """
    params = {f"metadata.{name}": value for name, value in message.headers.items() if name != TRACEPARENT}
    body = message.value
    envelope = _cloud_event(message.value)
    if envelope is None:
        params["metadata.rawPayload"] = "true"
        content_type = RAW_CONTENT_TYPE
    else:
        params["metadata.cloudevent.id"] = envelope["id"]
        content_type = CLOUDEVENT_CONTENT_TYPE
        traceparent = envelope.get(TRACEPARENT)
        if isinstance(traceparent, str) and "traceid" not in envelope and body.startswith(b"{"):
            body = b'{"traceid":' + json.dumps(traceparent).encode() + b"," + body[1:]
    if message.key:
        params["metadata.partitionKey"] = message.key
    return params, content_type, body


def _cloud_event(value: bytes) -> dict[str, Any] | None:
    """The JSON object of a structured CloudEvent 1.0 value with a non-empty id; None when it is not one."""
    try:
        envelope = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(envelope, dict) or envelope.get("specversion") != "1.0":
        return None
    event_id = envelope.get("id")
    return envelope if isinstance(event_id, str) and event_id else None


class DaprBus:
    """Bus over the Dapr pub/sub building block (HTTP API of the sidecar on 127.0.0.1:`http_port`).

    `pubsub` carries the consumer-group topics and every publish; `broadcast_pubsub` carries the group=None
    subscriptions (its component gives every sidecar its own consumer group). `timeout_s` bounds one publish
    call, sidecar retries included (seconds).
    """

    messaging_system = "dapr"  # messaging.system of the spans that publish and consume

    def __init__(
        self,
        *,
        http_port: int = 3500,
        pubsub: str = "pubsub",
        broadcast_pubsub: str = "pubsub-broadcast",
        app_id: str = "taskstream",
        timeout_s: float = 15.0,
        api_token: str | None = None,
        app_token: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.http_port = http_port
        self.pubsub = pubsub
        self.broadcast_pubsub = broadcast_pubsub
        self.app_id = app_id
        self.timeout_s = timeout_s
        self.api_token = api_token  # sent to daprd (its DAPR_API_TOKEN)
        self.app_token = app_token  # expected from daprd on every call to the app (its APP_API_TOKEN)
        self.subscriptions: list[DaprSubscription] = []
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._publish_error: str | None = None  # why the last publish failed; None once one succeeds

    @property
    def base_url(self) -> str:
        """The sidecar's HTTP endpoint, e.g. "http://127.0.0.1:3500"."""
        return f"http://127.0.0.1:{self.http_port}"

    def client(self) -> httpx.AsyncClient:
        """The HTTP client to the sidecar (created on first use; shared with the Jobs client)."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                timeout=self.timeout_s,
                transport=self._transport,
                headers={"user-agent": f"taskstream/{self.app_id}"}
                | ({"dapr-api-token": self.api_token} if self.api_token else {}),
            )
        return self._client

    async def start(self) -> None:
        """Open the HTTP client; the sidecar may come up later (publishes raise BusUnavailable till then)."""
        self.client()
        log.info(
            "dapr bus ready",
            app_id=self.app_id,
            sidecar=self.base_url,
            pubsub=self.pubsub,
            topics=sorted({s.topic for s in self.subscriptions}),
        )

    async def stop(self) -> None:
        """Close the HTTP client; in-flight deliveries finish inside their HTTP requests."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def health(self) -> BusHealth:
        """Down from a failed publish until the next one succeeds; else up. Not probed: the sidecar owns the
        broker connection (daprd is not ready until its pub/sub components have connected)."""
        detail = {"transport": "dapr", "sidecar": self.base_url}
        if self._publish_error is not None:
            return BusHealth(
                ok=False,
                message=f"publishing through the Dapr sidecar fails: {self._publish_error}",
                detail=detail | {"status": "publish failing"},
            )
        return BusHealth(
            ok=True,
            message=f"publishing through the Dapr sidecar at {self.base_url}",
            detail=detail | {"status": "not probed"},
        )

    async def lag(self) -> dict[tuple[str, str], int]:
        """Unknown here: daprd's own consumers hold the offsets."""
        return {}

    def subscribe(self, topic: str, *, group: str | None, handler: Handler) -> None:
        """Record `handler` for `topic`; group=None subscribes through the broadcast component."""
        pubsub = self.broadcast_pubsub if group is None else self.pubsub
        self.subscriptions.append(DaprSubscription(pubsub, topic, group, handler))

    def handlers_for(self, topic: str, *, pubsub: str | None = None) -> list[Handler]:
        """The handlers of `topic` (only those of component `pubsub` when given)."""
        return [s.handler for s in self.subscriptions if s.topic == topic and pubsub in (None, s.pubsub)]

    async def publish(self, messages: Sequence[Message]) -> None:
        """POST each message to the sidecar in order; a connection error or non-2xx raises PartialPublish.

        PartialPublish is a BusUnavailable whose `confirmed` counts the messages the sidecar accepted before.
        """
        client = self.client()
        for confirmed, message in enumerate(messages):
            params, content_type, body = publish_request(message)
            try:
                with continuing(message.headers.get(TRACEPARENT)):  # the call's span: a child of the PRODUCER
                    response = await client.post(
                        f"/v1.0/publish/{self.pubsub}/{message.topic}",
                        params=params,
                        content=body,
                        headers={"content-type": content_type},
                    )
            except httpx.HTTPError as error:
                self._publish_error = f"sidecar at {self.base_url} unreachable: {error!r}"
                raise PartialPublish(f"dapr {self._publish_error}", confirmed=confirmed) from error
            if not response.is_success:
                self._publish_error = (
                    f"publish to {self.pubsub}/{message.topic} refused: {response.status_code} "
                    f"{response.text[:300]}"
                )
                raise PartialPublish(f"dapr {self._publish_error}", confirmed=confirmed)
        self._publish_error = None

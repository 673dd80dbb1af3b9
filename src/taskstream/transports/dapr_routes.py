"""The app side of the Dapr transport: event deliveries and Jobs API triggers.

Answer rule for a delivery (HTTP 200 with a Dapr status; one rule for every topic):

* SUCCESS - every handler processed the event or had already processed it (duplicate id);
* RETRY   - a handler raised: the database is unreachable (DependencyUnavailable), recording a dead letter
            failed, or anything unexpected. Nothing was committed, so daprd redelivers it later;
* DROP    - the event was recorded as dead (MALFORMED: not a CloudEvent; DEAD_LETTERED: the handler kept
            failing) in the dead_letters table and published to `<topic>.dlq` before the answer.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hmac
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import structlog
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from taskstream.domain.errors import DependencyUnavailable
from taskstream.messaging.bus import Message
from taskstream.messaging.inbox import Outcome
from taskstream.transports.dapr import DaprBus

log = structlog.get_logger(__name__)

EVENTS_PREFIX = "/dapr/events"
DAPR_WRAPPER_TYPE = "com.dapr.event.sent"  # the type daprd gives an envelope it built around a plain payload
DAPR_ATTRIBUTES = ("topic", "pubsubname", "traceid", "expiration")  # daprd's bookkeeping, not our contract

JobTrigger = Callable[[str], Awaitable[int]]


class DeliveryStatus(enum.StrEnum):
    """The statuses of Dapr's pub/sub app response."""

    SUCCESS = "SUCCESS"
    RETRY = "RETRY"
    DROP = "DROP"


def event_route(topic: str) -> str:
    """The app route daprd posts `topic` to: "/dapr/events/<topic>"."""
    return f"{EVENTS_PREFIX}/{topic}"


def _original_value(envelope: dict[str, Any]) -> bytes:
    """The event bytes in a delivered envelope: ours minus daprd's additions, or the payload daprd wrapped."""
    if envelope.get("type") != DAPR_WRAPPER_TYPE:
        return json.dumps({k: v for k, v in envelope.items() if k not in DAPR_ATTRIBUTES}).encode()
    if isinstance(envelope.get("data_base64"), str):
        try:
            return base64.b64decode(envelope["data_base64"], validate=True)
        except (binascii.Error, ValueError):
            return json.dumps(envelope).encode()
    data = envelope.get("data")
    if isinstance(data, str):
        return data.encode()
    return json.dumps(data).encode()


def delivered_message(
    topic: str, body: bytes, *, record_key: str | None = None
) -> tuple[Message, str | None]:
    """The bus Message of one daprd delivery (structured CloudEvent JSON) and the component it names, if any.

    The key is the Kafka record's (`record_key`: daprd's `__key` metadata, sent as a header), else the event's
    `partitionkey`.

    Accepts our envelope as daprd forwards it (with traceid/topic/pubsubname added, which are removed) and
    an envelope daprd built around a payload published as plain JSON or raw bytes (type com.dapr.event.sent,
    the payload in data/data_base64). Anything else is passed on unchanged, for the consumer to dead-letter.
    """
    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return Message(topic, record_key or "", body), None
    if not isinstance(envelope, dict):
        return Message(topic, record_key or "", body), None
    pubsub = envelope.get("pubsubname")
    value = _original_value(envelope)
    try:
        inner = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        inner = None
    key = inner.get("partitionkey") if isinstance(inner, dict) else None
    if record_key is not None:
        key = record_key
    message = Message(topic, key if isinstance(key, str) else "", value)
    return message, pubsub if isinstance(pubsub, str) else None


def delivery_status(outcomes: Iterable[object]) -> DeliveryStatus:
    """DROP when a handler recorded the event as dead (MALFORMED, DEAD_LETTERED), else SUCCESS."""
    dead = {Outcome.MALFORMED, Outcome.DEAD_LETTERED}
    return DeliveryStatus.DROP if any(outcome in dead for outcome in outcomes) else DeliveryStatus.SUCCESS


async def deliver(
    bus: DaprBus, topic: str, body: bytes, *, record_key: str | None = None
) -> DeliveryStatus | None:
    """Run every handler of `topic` on one delivery and choose the answer; None when nothing subscribes."""
    message, pubsub = delivered_message(topic, body, record_key=record_key)
    handlers = bus.handlers_for(topic, pubsub=pubsub) or bus.handlers_for(topic)
    if not handlers:
        return None
    outcomes: list[object] = []
    failed = False
    for handler in handlers:  # each handler is idempotent, so running the others after a failure is safe
        try:
            outcomes.append(await handler(message))
        except DependencyUnavailable as error:
            failed = True
            log.warning("delivery postponed: dependency down", topic=topic, error=str(error))
        except Exception:  # any other failure: daprd retries, then dead-letters it
            failed = True
            log.exception("delivery failed", topic=topic)
    status = DeliveryStatus.RETRY if failed else delivery_status(outcomes)
    if status is not DeliveryStatus.SUCCESS:
        log.info("delivery answered", topic=topic, status=str(status), key=message.key)
    return status


def dapr_router(bus: DaprBus, *, on_job: JobTrigger | None = None) -> APIRouter:
    """Routes daprd calls: POST /dapr/events/{topic}, and POST /job/{name} with `on_job`.

    Which topics reach which route is declared once, in the Subscription resources daprd loads
    (deploy/k8s/base/dapr/subscriptions.yaml); the app serves no programmatic `/dapr/subscribe`, so there is
    no second list for daprd to prefer.
    """

    async def from_sidecar(request: Request) -> None:
        """Service-to-service check: daprd sends its APP_API_TOKEN as `dapr-api-token`; no token, no entry."""
        given = request.headers.get("dapr-api-token", "")
        if not bus.app_token or not hmac.compare_digest(given.encode(), bus.app_token.encode()):
            raise HTTPException(status_code=401, detail="missing or wrong dapr-api-token")

    router = APIRouter(tags=["dapr"], include_in_schema=False, dependencies=[Depends(from_sidecar)])

    @router.post(EVENTS_PREFIX + "/{topic}")
    async def dapr_event(topic: str, request: Request) -> JSONResponse:
        """One CloudEvent delivered by daprd; answers {"status": SUCCESS | RETRY | DROP}."""
        key = request.headers.get("__key")  # the Kafka record key, as daprd's Kafka component reports it
        status = await deliver(bus, topic, await request.body(), record_key=key)
        if status is None:
            return JSONResponse({"message": f"no subscription for topic {topic!r}"}, status_code=404)
        return JSONResponse({"status": str(status)})

    if on_job is not None:
        trigger = on_job

        @router.post("/job/{name}")
        async def dapr_job(name: str) -> JSONResponse:
            """A Dapr job fired: a wake-up only; 503 (daprd retries) when the database is down."""
            try:
                fired = await trigger(name)
            except DependencyUnavailable as error:
                log.warning("job trigger postponed: dependency down", job=name, error=str(error))
                return JSONResponse({"status": "unavailable", "message": str(error)}, status_code=503)
            log.info("job triggered", job=name, fired=fired)
            return JSONResponse({"job": name, "fired": fired})

    return router

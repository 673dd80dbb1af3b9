"""Liveness, readiness and metrics."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import SecretStr

from taskstream.api.errors import responses
from taskstream.api.metrics import token_matches
from taskstream.domain.errors import Unauthorized
from taskstream.health import Health

router = APIRouter(tags=["health"])
metrics_bearer = HTTPBearer(
    auto_error=False, scheme_name="metricsToken", description="TASKSTREAM_METRICS_TOKEN, when it is set"
)


def _health(request: Request) -> Health:
    health = getattr(request.app.state, "health", None)
    if health is None:  # an app built without a runtime: only its database counts
        health = request.app.state.health = Health(request.app.state.engine)
    return health


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={
        200: {"description": "Ready", "content": {"application/json": {"schema": {"type": "object"}}}},
        503: {"description": "Not ready: the body names what is down", "content": {"application/json": {}}},
    },
)
async def readyz(request: Request) -> JSONResponse:
    """200 when this process can do its work; 503 naming what is down (see taskstream.health)."""
    ready, body = await _health(request).readiness()
    return JSONResponse(body, 200 if ready else 503)


async def _exposition(request: Request) -> Response:
    await _health(request).refresh_metrics()
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def metrics_router(token: SecretStr | None) -> APIRouter:
    """GET /metrics: Prometheus metrics of this process (gauges of backlog, lag and broker refreshed on
    scrape); with a token, only for `Authorization: Bearer <token>` (the OpenAPI then says so)."""
    router = APIRouter(tags=["health"])
    documented: dict[int | str, dict[str, Any]] = {200: {"description": "Prometheus text exposition"}}
    if token is None:

        @router.get("/metrics", response_class=PlainTextResponse, responses=documented)
        async def metrics(request: Request) -> Response:
            """Prometheus metrics of this process (gauges of backlog, lag and broker refreshed now)."""
            return await _exposition(request)

        return router

    @router.get("/metrics", response_class=PlainTextResponse, responses={**documented, **responses(401)})
    async def protected_metrics(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(metrics_bearer)],
    ) -> Response:
        """Prometheus metrics of this process; send `Authorization: Bearer <TASKSTREAM_METRICS_TOKEN>`."""
        authorization = f"Bearer {credentials.credentials}" if credentials is not None else None
        if not token_matches(token, authorization):
            raise Unauthorized("/metrics needs Authorization: Bearer <the metrics token>")
        return await _exposition(request)

    return router

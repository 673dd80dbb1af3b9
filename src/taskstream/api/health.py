"""Liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from taskstream.health import Health

router = APIRouter(tags=["health"])


def _health(request: Request) -> Health:
    health = getattr(request.app.state, "health", None)
    if health is None:  # an app built without a runtime: only its database counts
        health = request.app.state.health = Health(request.app.state.engine)
    return health


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """200 when this process can do its work; 503 naming what is down (see taskstream.health)."""
    ready, body = await _health(request).readiness()
    return JSONResponse(body, 200 if ready else 503)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus metrics of this process (gauges of backlog, lag and broker refreshed now)."""
    await _health(request).refresh_metrics()
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

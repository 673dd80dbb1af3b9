"""FastAPI application of the api service (and of every service's health endpoints)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.ext.asyncio import AsyncEngine

from taskstream import __version__
from taskstream.api import errors, health
from taskstream.api.deps import ApiContext
from taskstream.api.middleware import HardenedApp
from taskstream.features.accounts import routes as accounts
from taskstream.features.audit import routes as audit
from taskstream.features.notifications import routes as notifications
from taskstream.features.realtime import routes as realtime
from taskstream.features.tasks import routes as tasks
from taskstream.settings import Settings

WEB = Path(__file__).resolve().parent.parent / "web"
DOCS = WEB / "docs"  # the /docs page and its start-up script (no inline script: see api/middleware.py)
SWAGGER_UI = str(files("swagger_ui") / "static")  # swagger-ui-bundle.js, swagger-ui.css


def _health_routes(app: FastAPI, settings: Settings) -> None:
    """/healthz and /readyz; /metrics too unless it has a port of its own (see api/metrics.py)."""
    app.include_router(health.router)
    if settings.metrics_port is None:
        app.include_router(health.metrics_router(settings.metrics_token))


def health_app(engine: AsyncEngine, *, title: str, settings: Settings) -> HardenedApp:
    """A bare app with /healthz, /readyz and /metrics (for services without an API)."""
    app = HardenedApp(title=title, version=__version__, docs_url=None, redoc_url=None)
    app.state.engine = engine
    errors.install(app)
    _health_routes(app, settings)
    return app


def _docs(app: FastAPI) -> None:
    """Swagger UI 5 (it reads OpenAPI 3.1) at /docs from the static files of the pinned swagger-ui-py package
    (works offline, and under the CSP)."""
    app.mount("/docs-assets", StaticFiles(directory=SWAGGER_UI), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> FileResponse:
        return FileResponse(DOCS / "index.html")

    @app.get("/docs/init.js", include_in_schema=False)
    async def docs_script() -> FileResponse:
        return FileResponse(DOCS / "init.js", media_type="text/javascript")


def create_app(ctx: ApiContext, engine: AsyncEngine, *, serve_ui: bool = True) -> HardenedApp:
    """The api: REST under /api/v1, WebSocket at /api/v1/ws (when ctx.hub is set), the web UI at /."""
    app = HardenedApp(
        title="taskstream",
        version=__version__,
        description="Tasks with due times, RRULE recurrence, reminders and live updates. Every error answer "
        "has the body `{message, field, detail}`.",
        docs_url=None,  # served by _docs
        # Counted as the body arrives, whatever its framing (a declared Content-Length over it is refused
        # before reading): 413 once past it, nothing more read; see errors.install for the answer.
        max_body_size=ctx.settings.max_request_bytes,
    )
    _docs(app)
    app.state.ctx = ctx
    app.state.engine = engine
    errors.install(app)
    _health_routes(app, ctx.settings)
    for router in (accounts.router, tasks.router, audit.router, notifications.router):
        app.include_router(router, prefix="/api/v1")
    if ctx.hub is not None:
        app.include_router(realtime.router, prefix="/api/v1")
    if serve_ui and WEB.is_dir():
        app.mount("/static", StaticFiles(directory=WEB), name="static")

        @app.get("/", include_in_schema=False)
        async def index() -> FileResponse:
            return FileResponse(WEB / "index.html")

    return app

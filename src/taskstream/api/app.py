"""FastAPI application of the api service (and of every service's health endpoints)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send
from swagger_ui_bundle import swagger_ui_path

from taskstream import __version__
from taskstream.api import errors, health
from taskstream.api.deps import ApiContext
from taskstream.features.accounts import routes as accounts
from taskstream.features.audit import routes as audit
from taskstream.features.notifications import routes as notifications
from taskstream.features.realtime import routes as realtime
from taskstream.features.tasks import routes as tasks

WEB = Path(__file__).resolve().parent.parent / "web"


class BodyLimit:
    """ASGI middleware: 413 for a request whose declared body (Content-Length) is larger than the limit."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = Headers(scope=scope).get("content-length")
            if length and length.isdigit() and int(length) > self.max_bytes:
                response = JSONResponse(
                    {"message": f"request body larger than {self.max_bytes} bytes", "field": None},
                    status_code=413,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def health_app(engine: AsyncEngine, *, title: str) -> FastAPI:
    """A bare app with /healthz, /readyz and /metrics (for services without an API)."""
    app = FastAPI(title=title, version=__version__, docs_url=None, redoc_url=None)
    app.state.engine = engine
    app.include_router(health.router)
    return app


def create_app(ctx: ApiContext, engine: AsyncEngine, *, serve_ui: bool = True) -> FastAPI:
    """The api: REST under /api/v1, WebSocket at /api/v1/ws (when ctx.hub is set), the web UI at /."""
    app = FastAPI(
        title="taskstream",
        version=__version__,
        description="Tasks with due times, RRULE recurrence, reminders and live updates.",
        docs_url=None,  # served below from the packaged Swagger UI, so /docs works without internet
    )
    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="taskstream API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/static/icon.svg",
        )

    app.state.ctx = ctx
    app.state.engine = engine
    app.add_middleware(BodyLimit, max_bytes=ctx.settings.max_request_bytes)
    errors.install(app)
    app.include_router(health.router)
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

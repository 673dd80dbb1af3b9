"""`taskstream up`, `taskstream serve SERVICE`, `taskstream migrate`."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Coroutine, MutableMapping
from pathlib import Path
from typing import Annotated, Any

import structlog
import typer
import uvicorn
from opentelemetry import trace
from starlette.types import ASGIApp
from structlog.tracebacks import ExceptionDictTransformer

from taskstream.cli import task_detail  # noqa: F401 - registers show, edit and restore on client_app
from taskstream.cli.client import client_app
from taskstream.cli.common import hold_data_dir, load_settings, require_free_port
from taskstream.cli.outbox import outbox_app
from taskstream.settings import SERVICES, Settings

app = typer.Typer(help="taskstream: an event-driven task manager.", no_args_is_help=True)
app.registered_commands += client_app.registered_commands
app.add_typer(outbox_app, name="outbox")


class RepeatFilter(logging.Filter):
    """Lets one record of each message template of the loggers under `prefix` through per `every_s` seconds.

    A library that logs every failed reconnect (aiokafka: several lines a second per client while a broker
    is down) would otherwise bury the one line that says what is wrong; the services report outages
    themselves, once, with what to do.
    """

    def __init__(self, prefix: str, every_s: float = 60.0) -> None:
        super().__init__()
        self._prefix = prefix
        self._every_s = every_s
        self._last: dict[tuple[str, object], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self._prefix):
            return True
        key = (record.name, record.msg)
        now = record.created
        if now - self._last.get(key, float("-inf")) < self._every_s:
            return False
        self._last[key] = now
        if len(self._last) > 1000:
            self._last.clear()
        return True


# Fields whose values never reach a log line, whoever logs them (by name or name suffix, e.g. "api_token").
SECRET_FIELDS = ("password", "secret", "token", "authorization", "cookie", "password_hash")
REDACTED = "[redacted]"


def redact_secrets(_: object, __: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
    """structlog processor: replace the value of every field named like a secret (SECRET_FIELDS)."""
    for key in event:
        if key.lower().endswith(SECRET_FIELDS):
            event[key] = REDACTED
    return event


def _renderer(log_format: str) -> list[structlog.typing.Processor]:
    """The last processors: JSON lines or console text, coloured only on a terminal (and not with NO_COLOR).
    Tracebacks show frames only, never their locals (they held settings and tokens, and printing them took
    seconds on the event loop)."""
    if log_format == "json":
        tracebacks = ExceptionDictTransformer(show_locals=False, max_frames=30)
        return [structlog.processors.ExceptionRenderer(tracebacks), structlog.processors.JSONRenderer()]
    colors = sys.stderr.isatty() and not os.environ.get("NO_COLOR")  # no escape codes in a file or a pipe
    return [structlog.dev.ConsoleRenderer(colors=colors, exception_formatter=structlog.dev.plain_traceback)]


def add_trace_context(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """`trace_id` and `span_id` (hex) of the current span, when there is one."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", format(context.trace_id, "032x"))
        event.setdefault("span_id", format(context.span_id, "016x"))
    return event


def configure_logging(settings: Settings) -> None:
    """structlog, console or JSON lines as the settings say; the libraries' records in the same format."""
    level = getattr(logging, settings.log_level.upper(), logging.INFO)
    renderer = _renderer(settings.log_format)
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_context,
        redact_secrets,
    ]
    handler = logging.StreamHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    handler.addFilter(RepeatFilter("aiokafka"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(max(level, logging.WARNING))
    structlog.configure(
        processors=[*shared, *renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,  # else every call on a module's logger builds its logger anew
    )


def server_config(settings: Settings, app: ASGIApp | str) -> uvicorn.Config:
    """uvicorn's settings for a taskstream process: WebSocket messages bounded, pinged every 20 s."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        ws_ping_interval=20,
        ws_max_size=settings.ws_max_message_bytes,  # a larger message closes the socket with 1009
        lifespan="on",
    )


def _serve(settings: Settings, services: tuple[str, ...]) -> None:
    from taskstream.runtime import Runtime

    configure_logging(settings)
    runtime = Runtime(settings, services=services)
    server = uvicorn.Server(server_config(settings, runtime.build_app(freeze_heap=True)))
    structlog.get_logger("taskstream").info(
        "taskstream listening", url=f"http://{settings.host}:{settings.port}", data_dir=str(settings.data_dir)
    )
    run_on_fastest_loop(server.serve())


def run_on_fastest_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` on uvloop (libuv: its transports, timers and callbacks in C; uvicorn's own choice when it
    starts a server itself), or on asyncio's loop where uvloop is not installed (Windows)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def api_worker_app() -> ASGIApp:
    """The app of one of `serve api --workers N`'s processes: uvicorn imports and calls this in each
    (spawned, so the settings come from the environment)."""
    from taskstream.runtime import Runtime

    settings = load_settings()
    configure_logging(settings)
    structlog.get_logger("taskstream").info("api worker starting", pid=os.getpid())
    return Runtime(settings, services=("api",)).build_app(freeze_heap=True)


def _serve_workers(settings: Settings) -> None:
    """`serve api --workers N`: the port bound once here, N api processes accepting on it (uvicorn's
    supervisor starts them, starts again one that dies, and stops them all on SIGINT/SIGTERM)."""
    from uvicorn.supervisors import Multiprocess

    if settings.resolved_database_url().startswith("sqlite"):
        typer.secho(
            "--workers needs PostgreSQL (TASKSTREAM_DATABASE_URL): SQLite has one writer", fg="red", err=True
        )
        raise typer.Exit(2)
    configure_logging(settings)
    settings.resolved_jwt_secret()  # a generated key is written once, before the workers read it
    os.environ |= {"TASKSTREAM_PORT": str(settings.port), "TASKSTREAM_WORKERS": str(settings.workers)}
    config = server_config(settings, "taskstream.cli.main:api_worker_app")
    config.factory, config.workers = True, settings.workers
    structlog.get_logger("taskstream").info(
        "taskstream listening", url=f"http://{settings.host}:{settings.port}", workers=settings.workers
    )
    Multiprocess(config, sockets=[config.bind_socket()]).run()


@app.command()
def up(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000)")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where the SQLite database lives")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="SQLAlchemy async URL instead of the SQLite file")
    ] = None,
    bus: Annotated[
        str,
        typer.Option(
            help="memory: every service in this process; kafka: one process per service; "
            "dapr: one process per service, each beside its own daprd (deploy/local/dapr build first)"
        ),
    ] = "memory",
    bootstrap: Annotated[
        str | None,
        typer.Option(help="Kafka HOST:PORT (kafka, dapr); default: Apache Kafka run in the data dir"),
    ] = None,
) -> None:
    """Run every service: in one process (memory bus), or as supervised processes over Kafka (kafka, dapr)."""
    if bus not in ("memory", "kafka", "dapr"):
        raise typer.BadParameter("choose memory, kafka or dapr", param_hint="--bus")
    if bootstrap and bus == "memory":
        raise typer.BadParameter("--bootstrap needs --bus kafka or dapr", param_hint="--bootstrap")
    settings = load_settings(
        host=host, port=port, data_dir=data_dir, database_url=database_url, kafka_bootstrap=bootstrap
    )
    lock = hold_data_dir(settings.data_dir)  # noqa: F841 - held until the process ends
    require_free_port(settings.host, settings.port)  # else the api would start only to fail (or restart)
    if bus != "memory":
        from taskstream.cli.supervisor import run_cluster

        configure_logging(settings)
        raise typer.Exit(run_cluster(settings, bootstrap=bootstrap, bus=bus))
    _serve(settings, SERVICES)


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help=f"One of: {', '.join(SERVICES)}")],
    port: Annotated[int | None, typer.Option(help="HTTP port for health, metrics (and the API)")] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="api only, PostgreSQL only: processes sharing the port (TASKSTREAM_WORKERS)"),
    ] = None,
) -> None:
    """Run one service in this process (settings from TASKSTREAM_* variables)."""
    if service not in SERVICES:
        raise typer.BadParameter(f"unknown service {service!r}; choose one of {', '.join(SERVICES)}")
    settings = load_settings(port=port, workers=workers)
    if settings.workers > 1 and service != "api":
        raise typer.BadParameter("only the api runs in several processes", param_hint="--workers")
    require_free_port(settings.host, settings.port)
    if settings.workers > 1:
        _serve_workers(settings)
    else:
        _serve(settings, (service,))


@app.command()
def migrate() -> None:
    """Apply the database migrations and exit."""
    from taskstream.store.db import create_engine
    from taskstream.store.db import migrate as run_migrations

    settings = load_settings()
    configure_logging(settings)

    async def main() -> None:
        engine = create_engine(settings.resolved_database_url())
        try:
            await run_migrations(engine)
        finally:
            await engine.dispose()

    asyncio.run(main())
    structlog.get_logger("taskstream").info("migrations applied")

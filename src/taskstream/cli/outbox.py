"""`taskstream outbox replay`: publish sent events again, after a broker lost what it had acknowledged."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from taskstream.cli.common import load_settings
from taskstream.domain.durations import iso_duration
from taskstream.domain.errors import DependencyUnavailable
from taskstream.events.topics import ALL_TOPICS

outbox_app = typer.Typer(help="Publish events of the transactional outbox again.", no_args_is_help=True)


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?")


def parse_instant(value: str) -> datetime:
    """An RFC 3339 date-time with an offset (2026-12-02T10:15:00Z), as UTC; BadParameter otherwise."""
    if not _RFC3339.fullmatch(value.strip()):
        raise typer.BadParameter(f"not an RFC 3339 date-time such as 2026-12-02T10:15:00Z: {value!r}")
    try:
        instant = datetime.fromisoformat(value.strip())
        if instant.tzinfo is None:
            raise typer.BadParameter("give an offset (Z or +01:00): a time without one is ambiguous")
        return instant.astimezone(UTC)
    except (ValueError, OverflowError) as error:
        raise typer.BadParameter(f"not a date-time between the years 1 and 9999: {value!r}") from error


REPLAY_HELP = (
    "Mark outbox rows sent since --since as unsent, so the running relay publishes them again, in order.\n\n"
    "For a broker that came back empty (a wiped cluster) or lost topics. Consumers' inboxes drop events they "
    "already processed, so replaying too much is harmless. Rows older than the outbox retention "
    "(TASKSTREAM_OUTBOX_RETENTION, default 7 days) are gone."
)


@outbox_app.command(help=REPLAY_HELP)
def replay(
    since: Annotated[
        str,
        typer.Option(help="RFC 3339 time: rows sent at or after it are published again", show_default=False),
    ],
    topic: Annotated[
        list[str] | None,
        typer.Option(metavar="TOPIC", help=f"Only this topic ({', '.join(ALL_TOPICS)}); repeatable"),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be replayed; change nothing")
    ] = False,
    database_url: Annotated[
        str | None,
        typer.Option(metavar="URL", help="SQLAlchemy async URL (default: TASKSTREAM_DATABASE_URL)"),
    ] = None,
) -> None:
    """See REPLAY_HELP; exits 1 when the database is unreachable or not migrated."""
    instant = parse_instant(since)
    topics = list(dict.fromkeys(topic or []))
    unknown = [name for name in topics if name not in ALL_TOPICS]
    if unknown:
        raise typer.BadParameter(f"unknown topic {unknown[0]!r}; one of {', '.join(ALL_TOPICS)}")
    settings = load_settings(database_url=database_url)
    try:
        url = make_url(settings.resolved_database_url())
    except ArgumentError as error:
        raise typer.BadParameter(f"not a database URL: {error}", param_hint="--database-url") from error
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").exists():
        typer.secho(
            f"no SQLite database at {url.database} (TASKSTREAM_DATABASE_URL or --database-url)", err=True
        )
        raise typer.Exit(1)
    try:
        counts = asyncio.run(_requeue(url, instant, topics, commit=not dry_run))
    except DependencyUnavailable as error:
        typer.secho(str(error), fg="red", err=True)
        raise typer.Exit(1) from error
    kept_since = datetime.now(UTC) - settings.outbox_retention
    if instant < kept_since:
        typer.secho(
            f"Rows sent before {kept_since.isoformat(timespec='seconds')} are no longer kept (they are "
            f"kept for TASKSTREAM_OUTBOX_RETENTION={iso_duration(settings.outbox_retention)}): not replayed.",
            fg="yellow",
            err=True,
        )
    total = sum(counts.values())
    per_topic = ", ".join(f"{name} {n}" for name, n in sorted(counts.items())) or "none"
    if dry_run:
        typer.echo(f"Would replay {total} events sent since {instant.isoformat()}: {per_topic}.")
        return
    typer.echo(
        f"Replaying {total} events sent since {instant.isoformat()}: {per_topic}. "
        "The relay publishes them again in order; consumers skip those they already processed."
    )


async def _requeue(url: URL, since: datetime, topics: list[str], *, commit: bool) -> dict[str, int]:
    from sqlalchemy.exc import DBAPIError

    from taskstream.store.db import create_engine, schema_ready
    from taskstream.store.uow import UnitOfWorkFactory, is_connection_error

    shown = url.render_as_string(hide_password=True)
    engine = create_engine(url.render_as_string(hide_password=False))
    try:
        try:
            ready = await schema_ready(engine)
        except (DBAPIError, OSError, TimeoutError) as error:
            reason = "is unreachable" if is_connection_error(error) else "cannot be read"
            raise DependencyUnavailable(
                f"the database {shown} {reason}: {error.__cause__ or error}"
            ) from error
        if not ready:
            raise DependencyUnavailable(
                f"the database {shown} has no taskstream schema at the newest migration (taskstream migrate)"
            )
        async with UnitOfWorkFactory(engine)() as uow:
            counts = await uow.outbox.requeue_sent(since=since, topics=topics)
            if commit:
                await uow.commit()
        return counts
    finally:
        await engine.dispose()

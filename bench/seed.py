"""Fast synthetic data straight into the tables (executemany on SQLite, COPY on PostgreSQL), never the API.

Titles are three to five words from a fixed vocabulary, with planted terms of known frequency so each search
has a stable selectivity: RARE (1 task in 5,000), TWO_TERMS (each 1 in 20, so both ≈ 1 in 400), PREFIX
(three words starting with it, ≈ 1 in 20 together), SHORT_PREFIX (a first letter, as typed into the search
box: 17 words start with it, in about half of the tasks), COMMON (4 tasks in 10). Tags tag00…tag19 (0–2 per
task), priority 0–4, due within ±180 days (1 in 5 without), 1 in 5 completed.
"""

from __future__ import annotations

import contextlib
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite3

RARE = "quokka"
TWO_TERMS = ("budget", "quarterly")
PREFIX = "inv"
SHORT_PREFIX = "c"  # call, check, clean and the 14 filler words cor…
COMMON = "team"
TAG = "tag03"
_PREFIXED = ("invoice", "inventory", "invite")
_FILLER = [
    a + b
    for a in (
        "bar",
        "cor",
        "del",
        "fen",
        "gal",
        "hol",
        "jor",
        "kel",
        "lum",
        "mar",
        "nor",
        "pel",
        "ros",
        "sal",
    )
    for b in ("ba", "den", "fix", "go", "lin", "mo", "nix", "pa", "ro", "sta", "tu", "vel", "wen", "zo")
]
_VERBS = ("call", "email", "write", "fix", "plan", "buy", "check", "send", "book", "clean", "read", "pay")
NOW = datetime.now(UTC).replace(microsecond=0)
SESSION_LIFE = timedelta(days=365)  # the sessions seeded for benchmark tokens outlive any run


@dataclass
class TaskRow:
    id: str
    user_id: str
    title: str
    description: str | None
    priority: int
    due_at: datetime | None
    completed: bool
    created_at: datetime
    tags: tuple[str, ...]


def _title(rng: random.Random) -> str:
    words = [rng.choice(_VERBS)] + [rng.choice(_FILLER) for _ in range(rng.randint(2, 4))]
    if rng.random() < 0.4:
        words.append(COMMON)
    for term in TWO_TERMS:
        if rng.random() < 0.05:
            words.append(term)
    if rng.random() < 0.05:
        words.append(rng.choice(_PREFIXED))
    if rng.random() < 1 / 5_000:
        words.append(RARE)
    rng.shuffle(words[1:])
    return " ".join(words)


def tasks(user_id: str, count: int, *, seed: int) -> Iterator[TaskRow]:
    """`count` tasks of `user_id`, reproducible from `seed`."""
    rng = random.Random(seed)
    for _ in range(count):
        due = None if rng.random() < 0.2 else NOW + timedelta(minutes=rng.randint(-180 * 1440, 180 * 1440))
        yield TaskRow(
            id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            user_id=user_id,
            title=_title(rng),
            description=" ".join(rng.choice(_FILLER) for _ in range(6)) if rng.random() < 0.5 else None,
            priority=rng.randint(0, 4),
            due_at=due,
            completed=rng.random() < 0.2,
            created_at=NOW - timedelta(seconds=rng.randint(0, 365 * 86400)),
            tags=tuple(sorted({f"tag{rng.randint(0, 19):02d}" for _ in range(rng.randint(0, 2))})),
        )


def user_id(n: int) -> str:
    """Deterministic id of synthetic user number n (0 is the big user)."""
    return str(uuid.UUID(int=n + 1, version=4))


# ------------------------------------------------------------------------ SQLite


def _sqlite_time(value: datetime | None) -> str | None:
    return (
        value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        if value
        else None
    )


def sqlite_insert(path: str, users: list[str], rows: Iterator[TaskRow], *, chunk: int = 50_000) -> int:
    """Insert users (ignored if present) and task rows; the FTS index and the search vocabulary are rebuilt
    once at the end (their per-row insert triggers are dropped meanwhile)."""
    import sqlite3

    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-200000")
    triggers = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE name IN ('tasks_fts_insert', 'tasks_vocabulary_insert')"
    ).fetchall()
    db.execute("BEGIN")
    stamp = _sqlite_time(NOW)
    db.executemany(
        "INSERT OR IGNORE INTO users (id, email, name, password_hash, timezone, created_at) "
        "VALUES (?, ?, NULL, 'x', 'UTC', ?)",
        [(u, f"{u}@bench.example", stamp) for u in users],
    )
    db.executemany(  # one session per user, id = user id, for the tokens the benchmarks sign
        "INSERT OR IGNORE INTO sessions (id, user_id, refresh_hash, created_at, refreshed_at, expires_at) "
        "VALUES (?, ?, '', ?, ?, ?)",
        [(u, u, stamp, stamp, _sqlite_time(NOW + SESSION_LIFE)) for u in users],
    )
    for name, _ in triggers:
        db.execute(f"DROP TRIGGER {name}")
    count = 0
    batch: list[TaskRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= chunk:
            count += _sqlite_batch(db, batch)
            batch = []
    count += _sqlite_batch(db, batch)
    db.execute("INSERT INTO tasks_fts(tasks_fts) VALUES ('rebuild')")
    if any(name == "tasks_vocabulary_insert" for name, _ in triggers):
        _sqlite_vocabulary(db)
    for _, sql in triggers:
        db.execute(sql)
    db.execute("COMMIT")
    db.execute("ANALYZE")
    # Copy the WAL into the database now (another connection may stay open, so closing this one would not),
    # rather than in the first write while the server is being measured.
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return count


def _sqlite_vocabulary(db: sqlite3.Connection) -> None:
    """Recompute search_vocabulary (migration 0008) from the FTS5 index: each user's words and task counts."""
    db.execute("CREATE VIRTUAL TABLE temp.bench_fts_terms USING fts5vocab(main, tasks_fts, 'instance')")
    db.execute("DELETE FROM search_vocabulary")
    db.execute(
        "INSERT INTO search_vocabulary (user_id, word, tasks) SELECT u.id, w.term, w.tasks "
        "FROM (SELECT doc >> 32 AS owner, term, count(DISTINCT doc) AS tasks FROM temp.bench_fts_terms "
        "GROUP BY term, owner) AS w JOIN users AS u ON u.rowid = w.owner"
    )
    db.execute("DROP TABLE temp.bench_fts_terms")


def _sqlite_batch(db: object, batch: list[TaskRow]) -> int:
    db.executemany(  # type: ignore[attr-defined]
        "INSERT INTO tasks (id, user_id, series_id, occurrence_key, title, description, priority, due_at, "
        "due_date, due_sort, timezone, recurrence, repeat_from, keep_missed, series_anchor, completed, "
        "completed_at, created_at, updated_at, version) "
        "VALUES (?, ?, ?, NULL, ?, ?, ?, ?, NULL, ?, 'UTC', NULL, 'due', 0, NULL, ?, ?, ?, ?, 1)",
        [
            (
                r.id,
                r.user_id,
                r.id,
                r.title,
                r.description,
                r.priority,
                _sqlite_time(r.due_at),
                _sqlite_time(r.due_at),
                int(r.completed),
                _sqlite_time(r.created_at) if r.completed else None,
                _sqlite_time(r.created_at),
                _sqlite_time(r.created_at),
            )
            for r in batch
        ],
    )
    db.executemany(  # type: ignore[attr-defined]
        "INSERT INTO task_tags (task_id, tag, user_id) VALUES (?, ?, ?)",
        [(r.id, tag, r.user_id) for r in batch for tag in r.tags],
    )
    return len(batch)


# ------------------------------------------------------------------------ PostgreSQL


async def pg_insert(dsn: str, users: list[str], rows: Iterator[TaskRow], *, rebuild_indexes: bool) -> int:
    """COPY users and task rows; with rebuild_indexes the tasks/task_tags indexes are dropped and rebuilt."""
    import asyncpg

    db = await asyncpg.connect(dsn)
    try:
        await db.executemany(
            "INSERT INTO users (id, email, name, password_hash, timezone, created_at) "
            "VALUES ($1, $2, NULL, 'x', 'UTC', $3) ON CONFLICT DO NOTHING",
            [(u, f"{u}@bench.example", NOW) for u in users],
        )
        await db.executemany(  # as in sqlite_insert
            "INSERT INTO sessions (id, user_id, refresh_hash, created_at, refreshed_at, expires_at) "
            "VALUES ($1, $1, '', $2, $2, $3) ON CONFLICT DO NOTHING",
            [(u, NOW, NOW + SESSION_LIFE) for u in users],
        )
        indexes: list[str] = []
        if rebuild_indexes:
            found = await db.fetch(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i "
                "LEFT JOIN pg_constraint c ON c.conname = i.indexname "
                "WHERE i.tablename IN ('tasks', 'task_tags') AND c.conname IS NULL"
            )
            for record in found:
                await db.execute(f'DROP INDEX "{record["indexname"]}"')
                indexes.append(record["indexdef"])
        columns = [
            "id",
            "user_id",
            "series_id",
            "title",
            "description",
            "priority",
            "due_at",
            "due_sort",
            "timezone",
            "repeat_from",
            "keep_missed",
            "completed",
            "completed_at",
            "created_at",
            "updated_at",
            "version",
        ]
        count = 0
        chunk: list[TaskRow] = []

        async def flush(batch: list[TaskRow]) -> None:
            await db.copy_records_to_table(
                "tasks",
                columns=columns,
                records=[
                    (
                        r.id,
                        r.user_id,
                        r.id,
                        r.title,
                        r.description,
                        r.priority,
                        r.due_at,
                        r.due_at,
                        "UTC",
                        "due",
                        False,
                        r.completed,
                        r.created_at if r.completed else None,
                        r.created_at,
                        r.created_at,
                        1,
                    )
                    for r in batch
                ],
            )
            await db.copy_records_to_table(
                "task_tags",
                columns=["task_id", "tag", "user_id"],
                records=[(r.id, tag, r.user_id) for r in batch for tag in r.tags],
            )

        for row in rows:
            chunk.append(row)
            if len(chunk) >= 50_000:
                await flush(chunk)
                count += len(chunk)
                chunk = []
        if chunk:
            await flush(chunk)
            count += len(chunk)
        await db.execute("SET maintenance_work_mem = '256MB'")
        for definition in indexes:
            await db.execute(definition)
        await db.execute("VACUUM ANALYZE tasks")
        await db.execute("VACUUM ANALYZE task_tags")
        await db.execute("VACUUM ANALYZE search_vocabulary")  # filled by the insert trigger (migration 0008)
        # Write the load's dirty pages now, not spread over the measurement by the checkpointer.
        with contextlib.suppress(asyncpg.InsufficientPrivilegeError):  # superuser or pg_checkpoint only
            await db.execute("CHECKPOINT")
        return count
    finally:
        await db.close()

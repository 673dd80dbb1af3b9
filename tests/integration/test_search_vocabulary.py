"""search_vocabulary (migration 0008): each user's own words, in step with the full-text index, and searches
that read nothing of another user's words (security finding H1)."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import Table, delete, event, insert, make_url, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from taskstream.features.tasks.query import TaskQuery
from taskstream.features.tasks.search import SearchLimits, planner_for, search_terms
from taskstream.store.db import PG_SERVER_SETTINGS, create_engine, migrate
from taskstream.store.profile import DatabaseProfile
from taskstream.store.tables import Task, User
from taskstream.store.uow import UnitOfWorkFactory
from tests.conftest import _fresh_pg_database
from tests.integration.old_schema import migrate_to

BASE = datetime(2026, 3, 2, tzinfo=UTC)
OWNER, OTHER = "00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b"

# Words of every kind both tokenisers treat specially: diacritics, ß, dotted İ, a titlecase digraph, CJK,
# Greek final sigma, a ligature, superscripts, an emoji, PostgreSQL's numbers, hyphenated words, host names.
TITLES = [
    "Électricité bill",
    "Straße fegen",
    "İstanbul trip",
    "ǅemal visit",
    "東京タワー 見学",
    "naïve café crème",
    "foo_bar baz",
    "Revert 3e7f1c2",
    "Order foo-1e5x widget",
    "inv.example.com outage",
    "x² + y² = z²",
    "emoji 🎉 party",
    "ÅNGSTRÖM Ünïcödé",
    "ΣΊΣΥΦΟΣ Ωmega",
    "ﬁne ligature",
    "o'neil C:\\dir\\x",
]
QUERIES = [
    "élec", "electricite", "ELEC", "strasse", "straß", "ist", "İst", "ǆ", "東京", "東", "naive", "cafe",
    "foo_bar", "foo_b", "foo", "3e7f", "3e7", "1e5x", "1e5", "inv", "example", "x²", "y", "🎉", "unicode",
    "angst", "ωmega", "σίσυφος", "ﬁ", "fi", "o", "neil", "dir", "bill trip", "zzz", "_", "bill _",
]  # fmt: skip


async def _add_user(connection: AsyncConnection, user_id: str) -> None:
    await connection.execute(
        insert(User).values(id=user_id, email=f"{user_id}@example.com", password_hash="x", timezone="UTC",
                            created_at=BASE)
    )  # fmt: skip


async def _add_tasks(connection: AsyncConnection, user_id: str, rows: list[tuple[str, str | None]]) -> None:
    """One multi-row INSERT of (title, description) tasks, ids `<user>-<n>` counting on from the last."""
    have = len(
        (await connection.execute(text("SELECT id FROM tasks WHERE user_id = :u"), {"u": user_id})).all()
    )
    values = [
        {"id": f"{user_id[-1]}-{have + n:04d}", "user_id": user_id, "series_id": f"{user_id[-1]}-{have + n}",
         "title": title, "description": description, "timezone": "UTC", "created_at": BASE,
         "updated_at": BASE}
        for n, (title, description) in enumerate(rows)
    ]  # fmt: skip
    await connection.execute(insert(Task).values(values))


async def _vocabulary(connection: AsyncConnection) -> set[tuple[str, str, int]]:
    rows = await connection.execute(text("SELECT user_id, word, tasks FROM search_vocabulary"))
    return {(user, word, tasks) for user, word, tasks in rows}


async def _index_words(connection: AsyncConnection) -> set[tuple[str, str, int]]:
    """(user, word, tasks) as the full-text index itself holds them."""
    if connection.dialect.name == "sqlite":
        await connection.execute(text("INSERT INTO tasks_fts(tasks_fts, rank) VALUES ('integrity-check', 1)"))
        await connection.execute(
            text("CREATE VIRTUAL TABLE temp.check_terms USING fts5vocab(main, tasks_fts, 'instance')")
        )
        statement = (
            "SELECT u.id, v.term, count(DISTINCT v.doc) FROM temp.check_terms AS v "
            "JOIN users AS u ON u.rowid = v.doc >> 32 GROUP BY u.id, v.term"
        )
    else:
        statement = (
            "SELECT t.user_id, w.word, count(*) FROM tasks AS t, "
            "unnest(tsvector_to_array(t.search)) AS w(word) GROUP BY t.user_id, w.word"
        )
    found = {(user, word, tasks) for user, word, tasks in await connection.execute(text(statement))}
    if connection.dialect.name == "sqlite":
        await connection.execute(text("DROP TABLE temp.check_terms"))
    return found


async def _in_step(engine: AsyncEngine) -> set[tuple[str, str, int]]:
    """The vocabulary, checked equal to the index's words; returns it."""
    async with engine.begin() as connection:
        vocabulary = await _vocabulary(connection)
        assert vocabulary == await _index_words(connection)
        return vocabulary


async def test_vocabulary_follows_every_change_of_tasks_and_users(database_url: str) -> None:
    """Multi-row inserts, edits of title and description, a change of owner, deletes, a deleted user and
    emptying the table keep each user's words and task counts equal to the index's, on both databases and
    through 0007 and back."""
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        async with engine.begin() as connection:
            for user in (OWNER, OTHER):
                await _add_user(connection, user)
            await _add_tasks(connection, OWNER, [(title, None) for title in TITLES])
            await _add_tasks(connection, OWNER, [("team bill", "bill again"), ("team", None), ("Team", "x")])
            await _add_tasks(connection, OTHER, [("team quokka", "the Électricité"), ("other words", None)])
        words = await _in_step(engine)
        assert (OWNER, "team", 3) in words and (OWNER, "bill", 2) in words  # counted once per task
        assert (OWNER, "electricite", 1) in words or (OWNER, "électricité", 1) in words
        assert not any(user == OWNER and word == "quokka" for user, word, _ in words)
        async with engine.begin() as connection:
            task = Task.__table__
            assert isinstance(task, Table)
            await connection.execute(
                update(task).where(task.c.id == "a-0016").values(title="team BILL renamed")
            )
            await connection.execute(
                update(task).where(task.c.id == "a-0017").values(description="désormais")
            )
            await connection.execute(update(task).where(task.c.id == "a-0000").values(description=None))
            await connection.execute(update(task).where(task.c.id == "a-0001").values(completed=True))
            await connection.execute(update(task).where(task.c.id == "a-0002").values(user_id=OTHER))
            await connection.execute(delete(task).where(task.c.id.in_(["a-0003", "a-0018"])))
        words = await _in_step(engine)
        assert (OWNER, "renamed", 1) in words and (OWNER, "team", 2) in words
        assert not any(user == OWNER and word in ("istanbul", "ǆemal") for user, word, _ in words)
        assert (OTHER, "istanbul", 1) in words
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM users WHERE id = :id"), {"id": OTHER})
        words = await _in_step(engine)
        assert words and {user for user, _, _ in words} == {OWNER}
        async with engine.begin() as connection:
            await connection.run_sync(migrate_to, "0007", down=True)
            await connection.run_sync(migrate_to, "head")
        assert await _in_step(engine) == words  # refilled from the index by the upgrade
        async with engine.begin() as connection:
            emptied = "TRUNCATE tasks CASCADE" if engine.dialect.name == "postgresql" else "DELETE FROM tasks"
            await connection.execute(text(emptied))
        assert await _in_step(engine) == set()
    finally:
        await engine.dispose()


def _reference(dialect: str, terms: list[str]) -> tuple[str, str]:
    """The index's own prefix matching of `terms` for the owner (the form searches took before H1)."""
    if dialect == "sqlite":
        return (
            "SELECT t.id FROM tasks AS t JOIN users AS u ON u.id = t.user_id WHERE u.id = :owner AND "
            "t.rowid IN (SELECT rowid & 4294967295 FROM tasks_fts WHERE tasks_fts MATCH :q "
            "AND rowid BETWEEN u.rowid << 32 AND (u.rowid << 32) + 4294967295)",
            " AND ".join(f'"{term}"*' for term in terms),
        )
    return (
        "SELECT id FROM tasks WHERE user_id = :owner AND search @@ to_tsquery('simple', :q)",
        " & ".join(f"{term}:*" for term in terms),
    )


# What the index's prefix query itself finds nothing for: SQLite folds diacritics but not ß nor ligatures,
# and reads no token in `_`; PostgreSQL's 'simple' keeps diacritics, reads `1e5x` as 1e5 then x, holds
# inv.example.com as one host name, and lower-cases Σ to σ at the end of a word.
NO_MATCH = {
    "sqlite": {"strasse", "fi", "zzz", "_", "bill _", "🎉"},
    "postgresql": {"electricite", "ELEC", "naive", "cafe", "strasse", "1e5x", "example", "unicode", "angst",
                   "σίσυφος", "fi", "zzz", "_", "🎉"},
}  # fmt: skip

LIMITS = {
    "standard": SearchLimits(),
    "many words, walk": SearchLimits(expand_max=0, sort_max=-1),
    "each task checked (PostgreSQL), probe (SQLite)": SearchLimits(words_max=0, sort_max=-1, probe_min=1),
}


@pytest.mark.parametrize("limits", list(LIMITS))
async def test_searches_match_as_the_index_matches_prefixes(database_url: str, limits: str) -> None:
    """Whatever the word, the owner's search finds exactly the tasks the index's own prefix query finds for
    the owner, while another user holds some of the same words and others like them."""
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        async with engine.begin() as connection:
            for user in (OWNER, OTHER):
                await _add_user(connection, user)
            await _add_tasks(connection, OWNER, [(t, "Team bill") for t in TITLES] + [("Pay rent", None)])
            await _add_tasks(connection, OTHER, [(t.upper(), "electrical billing") for t in TITLES[:8]])
        factory = UnitOfWorkFactory(engine)
        factory.search = planner_for(factory.profile, LIMITS[limits])
        for q in QUERIES:
            terms = search_terms(q)
            expected: set[str] = set()  # no word at all (🎉): nothing, as the repository answers
            if terms:
                statement, reference = _reference(engine.dialect.name, terms)
                async with engine.connect() as connection:
                    expected = set(
                        await connection.scalars(text(statement), {"owner": OWNER, "q": reference})
                    )
            for sort in ("due", "title"):
                async with factory.views() as views:
                    found = await views.find(TaskQuery(user_id=OWNER, q=q, sort=sort, limit=200))
                assert {t.id for t in found} == expected, (q, sort)
            assert bool(expected) == (q not in NO_MATCH[engine.dialect.name]), q  # the test is not vacuous
    finally:
        await engine.dispose()


# ---------------------------------------------------------------------------------------------- H1


@contextmanager
def _statements(engine: AsyncEngine) -> Iterator[list[tuple[str, Any]]]:
    """The (statement, parameters) pairs sent to the driver meanwhile."""
    sent: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", grab)
    try:
        yield sent
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", grab)


def _sqlite_work(path: str, statements: list[tuple[str, Any]]) -> list[tuple[int, list[Any]]]:
    """Per statement: SQLite virtual-machine steps to run it to the end, and its rows."""
    db = sqlite3.connect(path)
    try:
        steps = [0]

        def count() -> int:
            steps[0] += 1
            return 0

        db.set_progress_handler(count, 1)
        work = []
        for statement, parameters in statements:
            steps[0] = 0
            rows = db.execute(statement, parameters).fetchall()
            work.append((steps[0], rows))
        return work
    finally:
        db.close()


def _plan_work(node: dict[str, Any]) -> list[Any]:
    """A plan tree's shape and work: node, relation, index, rows and loops, buffers (hit or read)."""
    blocks = node.get("Shared Hit Blocks", 0) + node.get("Shared Read Blocks", 0)
    keys = (
        "Relation Name",
        "Index Name",
        "Actual Rows",
        "Actual Loops",
        "Rows Removed by Filter",
        "Heap Fetches",
    )
    own = [node["Node Type"], *(node.get(key) for key in keys), blocks]
    return [own, *(_plan_work(child) for child in node.get("Plans", []))]


async def _pg_work(url: str, statements: list[tuple[str, Any]]) -> list[Any]:
    """Per statement: EXPLAIN (ANALYZE, BUFFERS) of it with its parameters, as _plan_work."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    db = await asyncpg.connect(dsn, server_settings=PG_SERVER_SETTINGS)
    try:
        work = []
        for statement, parameters in statements:
            plan = await db.fetchval("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, *parameters)
            work.append(_plan_work(json.loads(plan)[0]["Plan"]))
        return work
    finally:
        await db.close()


@asynccontextmanager
async def _world(url: str, others_word: str) -> AsyncIterator[AsyncEngine]:
    """The owner's tasks, then another user's: 21 words of 8 letters starting with `others_word`'s first
    three (so only their letters differ between two worlds), vacuumed and analysed."""
    engine = create_engine(url)
    try:
        await migrate(engine)
        async with engine.begin() as connection:
            await _add_user(connection, OWNER)
            await _add_tasks(
                connection, OWNER, [("qzebra crossing", None), ("zebra crossing", "plain words")]
            )
            await _add_user(connection, OTHER)
            stem = others_word[:3]
            words = [others_word] + [f"{stem}{n:05d}" for n in range(20)]
            await _add_tasks(connection, OTHER, [(f"note {word}", f"{word} again") for word in words])
        if engine.dialect.name == "postgresql":
            async with engine.connect() as connection:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                await connection.execute(text("VACUUM ANALYZE"))  # all visible, GIN's pending list merged
        else:
            async with engine.begin() as connection:
                await connection.execute(text("ANALYZE"))
        yield engine
    finally:
        await engine.dispose()


SEARCHES = ["qzv", "qzvxkwlo", "qz", "qzebra cross", "cross qz"]


@pytest.fixture
def second_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """Another fresh empty database of database_url's kind (a SQLite file, or a PostgreSQL database)."""
    if database_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tmp_path / 'second.db'}"
        return
    with _fresh_pg_database() as url:
        yield url


@pytest.mark.parametrize("limits", list(LIMITS))
async def test_a_search_reads_nothing_of_another_users_words(
    database_url: str, second_database_url: str, limits: str
) -> None:
    """H1: the owner searches prefixes of a word only another user has (`qzv…`, 21 such words, more than
    expand_max), and prefixes the owner has too (`qz`: qzebra). In one world the other user's words start
    with qzv, in the other with kmr (same lengths, same counts, same order). The owner gets the same answer
    from the same statements with the same parameters, and those statements do the same work: SQLite
    virtual-machine steps; PostgreSQL plan nodes, rows and buffers read (EXPLAIN ANALYZE). Work, not wall
    time, so a busy machine cannot flake it; before H1 the qzv searches ran other statements in one world
    (an expansion to the other user's words, or a prefix the index merged over them)."""
    urls = [database_url, second_database_url]
    seen: list[list[Any]] = []
    for url, others_word in zip(urls, ("qzvxkwlo", "kmrxkwlo"), strict=True):
        async with _world(url, others_word) as engine:
            factory = UnitOfWorkFactory(engine)
            factory.search = planner_for(DatabaseProfile.of(engine), LIMITS[limits])
            world = []
            for q in SEARCHES:
                for sort in ("due", "title"):
                    with _statements(engine) as sent:
                        async with factory.views() as views:
                            found = await views.find(TaskQuery(user_id=OWNER, q=q, sort=sort))
                    reads_tasks = [s for s, _ in sent if re.search(r"\bFROM tasks\b|tasks_fts", s)]
                    assert bool(reads_tasks) == (q not in ("qzv", "qzvxkwlo")), (q, sent)
                    if engine.dialect.name == "sqlite":
                        work: Any = _sqlite_work(make_url(url).database or "", sent)
                    else:
                        work = await _pg_work(url, sent)
                    world.append((q, sort, [t.id for t in found], sent, work))
            seen.append(world)
    mine, theirs = seen
    for (q, sort, found, sent, work), (_, _, found_there, sent_there, work_there) in zip(
        mine, theirs, strict=True
    ):
        assert found == found_there, (q, sort)
        assert sent == sent_there, (q, sort)
        assert work == work_there, (q, sort)
        assert (found == []) == (q in ("qzv", "qzvxkwlo")), (q, sort)

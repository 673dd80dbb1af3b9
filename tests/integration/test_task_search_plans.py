"""TaskViews.find: due-ordered walks and SQLite's search plans give the same pages as a plain sort."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from sqlalchemy import event, make_url, select, text

from taskstream.domain.tasks import Sort
from taskstream.features.tasks.query import TaskQuery
from taskstream.features.tasks.reads import FAR_FUTURE, FAR_PAST, TaskViews
from taskstream.features.tasks.search import (
    PostgresSearch,
    SearchLimits,
    SqliteSearch,
    planner_for,
    search_terms,
)
from taskstream.features.tasks.search_postgres import SearchQuery
from taskstream.runtime import Runtime
from taskstream.store.db import create_engine, migrate
from taskstream.store.tables import Task, TaskTag, User
from taskstream.store.uow import UnitOfWorkFactory
from tests.integration.old_schema import insert_user_and_task, migrate_to

BASE = datetime(2026, 3, 2, tzinfo=UTC)
ZONES = ("UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Europe/Berlin")  # +14 and -11: widest offsets
WORDS = ("alpha", "bravo", "delta", "echo", "golf")

# SQLite plans (SqliteSearch), forced through its limits.
PLANS = {
    "probe": SearchLimits(probe_min=1, sort_max=-1, expand_max=8),
    "sort": SearchLimits(probe_min=10**9, sort_max=10**9, expand_max=8),
    "walk": SearchLimits(probe_min=10**9, sort_max=-1, expand_max=8),
    # more of the owner's words start with the prefix than expand_max: walk, never probe
    "many words": SearchLimits(probe_min=1, sort_max=-1, expand_max=0),
}


def _used(name: str, statement: str) -> bool:
    """True when `statement` is the list statement of plan `name`."""
    if name == "probe":
        return "EXISTS (SELECT 1 FROM tasks_fts" in statement
    if name == "sort":
        return "tasks.rowid IN" in statement and "+tasks.rowid" not in statement
    return "+tasks.rowid IN" in statement


def _tasks(user_id: str, count: int, rng: random.Random) -> Iterator[tuple[Task, list[str]]]:
    """Tasks with ties on due (several per all-day date), no due, all-day in far zones; some tags."""
    for n in range(count):
        zone = rng.choice(ZONES)
        due_at = due_date = due_sort = None
        kind = rng.random()
        if kind < 0.4:
            due_at = BASE + timedelta(hours=rng.randint(-48, 48) * 6)  # many share an instant
            due_sort = due_at
        elif kind < 0.75:
            due_date = BASE.date() + timedelta(days=rng.randint(-5, 5))
            due_sort = datetime.combine(due_date, time(0), ZoneInfo(zone)).astimezone(UTC)
        words = [rng.choice(WORDS) for _ in range(2)]
        if rng.random() < 0.6:
            words.append("team")
        if rng.random() < 0.15:
            words.append(rng.choice(("invoice", "inventory", "invite")))
        if rng.random() < 0.03:
            words.append("quokka")
        task_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        task = Task(
            id=task_id,
            user_id=user_id,
            series_id=task_id,
            title=" ".join(words),
            description=f"note {n}" if rng.random() < 0.3 else None,
            priority=rng.randint(0, 4),
            due_at=due_at,
            due_date=due_date,
            due_sort=due_sort,
            timezone=zone,
            repeat_from="due",
            keep_missed=False,
            completed=rng.random() < 0.2,
            created_at=BASE,
            updated_at=BASE,
            version=1,
        )
        yield task, sorted({f"t{rng.randint(0, 2)}" for _ in range(rng.randint(0, 2))})


async def _seed(runtime: Runtime) -> tuple[str, list[tuple[Task, list[str]]]]:
    """Two users' tasks; returns the first user's id and (task, tags) pairs."""
    rng = random.Random(7)
    mine: list[tuple[Task, list[str]]] = []
    async with runtime.uow() as uow:
        for number in range(2):
            user = User(
                id=str(uuid.uuid4()),
                email=f"user{number}@example.com",
                password_hash="x",
                timezone="UTC",
                created_at=BASE,
            )
            uow.session.add(user)
            await uow.session.flush()
            rows = list(_tasks(user.id, 140, rng))
            for task, tags in rows:
                uow.session.add(task)
                await uow.session.flush()
                uow.session.add_all([TaskTag(task_id=task.id, tag=tag, user_id=user.id) for tag in tags])
            if number == 0:
                mine = rows
        await uow.commit()
    return mine[0][0].user_id, mine


def _expected(rows: list[tuple[Task, list[str]]], query: TaskQuery) -> list[str]:
    """The ids `query` must return, in order, computed in Python from the definitions."""

    def due_between(task: Task) -> bool:
        for bound, after in ((query.due_before, False), (query.due_after, True)):
            if bound is None:
                continue
            instant, day = bound
            if task.due_at is not None:
                if (task.due_at >= instant) != after:
                    return False
            elif task.due_date is not None:
                if (task.due_date >= day) != after:
                    return False
            else:
                return False
        return True

    def matches(task: Task, tags: list[str]) -> bool:
        words = f"{task.title} {task.description or ''}".split()
        terms = search_terms(query.q or "")
        return (
            all(any(w.startswith(t) for w in words) for t in terms)
            and (query.completed is None or task.completed == query.completed)
            and (not query.priorities or task.priority in query.priorities)
            and all(tag in tags for tag in query.tags)
            and due_between(task)
        )

    found = [task for task, tags in rows if matches(task, tags)]
    if query.sort == "-due":
        found.sort(key=lambda t: t.id)
        found.sort(key=lambda t: t.due_sort or FAR_PAST, reverse=True)
    else:
        found.sort(key=lambda t: (t.due_sort or FAR_FUTURE, t.id))
    return [task.id for task in found]


async def _pages(runtime: Runtime, query: TaskQuery, plans: Iterator[None] | None = None) -> list[str]:
    """Every page of `query` through the cursor, as the service does (limit + 1, sort_value of the last)."""
    seen: list[str] = []
    while True:
        if plans is not None:
            next(plans)
        async with runtime.uow.views() as views:
            rows = await views.find(query)
        more = len(rows) > query.limit
        seen += [task.id for task in rows[: query.limit]]
        if not more:
            return seen
        last = rows[query.limit - 1]
        query.after = (TaskViews.sort_value(last, query.sort), last.id)


@contextmanager
def _plan(runtime: Runtime, name: str) -> Iterator[None]:
    """Units of work made meanwhile search with plan `name`'s limits."""
    standard = runtime.uow.search
    runtime.uow.search = SqliteSearch(PLANS[name])
    try:
        yield
    finally:
        runtime.uow.search = standard


@contextmanager
def _statements(runtime: Runtime) -> Iterator[list[str]]:
    sent: list[str] = []

    def grab(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    engine = runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", grab)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", grab)


QUERIES: list[dict[str, Any]] = [
    {},
    {"q": "team"},
    {"q": "inv"},
    {"q": "quokka"},
    {"q": "team inv"},
    {"q": "te de"},
    {"q": "zzz"},
    {"q": "team", "completed": False, "tags": ["t1"]},
    {"priorities": [3, 4], "tags": ["t0"]},
    {
        "due_after": (datetime(2026, 3, 1, tzinfo=UTC), date(2026, 3, 1)),
        "due_before": (datetime(2026, 3, 4, tzinfo=UTC), date(2026, 3, 4)),
    },
    {"q": "team", "due_after": (datetime(2026, 3, 3, 10, tzinfo=UTC), date(2026, 3, 3))},
]


@pytest.mark.parametrize("sort", ["due", "-due"])
async def test_due_pages_match_a_plain_sort(runtime: Runtime, sort: Sort) -> None:
    user_id, rows = await _seed(runtime)
    for fields in QUERIES:
        expected = _expected(rows, TaskQuery(user_id=user_id, sort=sort, **fields))
        assert await _pages(runtime, TaskQuery(user_id=user_id, sort=sort, limit=7, **fields)) == expected, (
            fields
        )
        whole = TaskQuery(user_id=user_id, sort=sort, limit=200, **fields)
        async with runtime.uow.views() as views:
            assert [t.id for t in await views.find(whole)] == expected, fields


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # PostgreSQL's planner chooses there
@pytest.mark.parametrize("name", list(PLANS))
async def test_every_sqlite_search_plan_gives_the_same_pages(runtime: Runtime, name: str) -> None:
    user_id, rows = await _seed(runtime)
    for fields in QUERIES:
        if "q" not in fields or fields["q"] == "zzz":
            continue
        for sort in ("due", "-due"):
            expected = _expected(rows, TaskQuery(user_id=user_id, sort=sort, **fields))
            with _plan(runtime, name), _statements(runtime) as sent:
                pages = await _pages(runtime, TaskQuery(user_id=user_id, sort=sort, limit=7, **fields))
            assert pages == expected, (name, sort, fields)
            assert any(_used(name, statement) for statement in sent), sent


async def test_cursor_pages_survive_a_change_of_plan(runtime: Runtime) -> None:
    """Each page chooses its plan afresh (the data may have changed): a cursor from one plan works in all."""
    user_id, rows = await _seed(runtime)

    def switching() -> Iterator[None]:
        while True:
            for limits in PLANS.values():
                runtime.uow.search = planner_for(runtime.uow.profile, limits)
                yield

    for q in ("team", "inv", "team inv"):
        for sort in ("due", "-due"):
            expected = _expected(rows, TaskQuery(user_id=user_id, q=q, sort=sort))
            query = TaskQuery(user_id=user_id, q=q, sort=sort, limit=5)
            assert await _pages(runtime, query, switching()) == expected, (q, sort)


async def test_other_users_tasks_never_match(runtime: Runtime) -> None:
    user_id, rows = await _seed(runtime)
    mine = {task.id for task, _ in rows}
    for fields in QUERIES:
        for sort in ("due", "-due", "priority", "title", "created"):
            async with runtime.uow.views() as views:
                found = await views.find(TaskQuery(user_id=user_id, sort=sort, limit=200, **fields))
            assert {t.id for t in found} <= mine


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("words_max", [128, 0])  # the owner's words through GIN; each task checked instead
@pytest.mark.parametrize("sort_max", [2_000, -1])  # all matches sorted; PostgreSQL's planner chooses
async def test_postgres_prefix_forms_give_the_same_pages(
    runtime: Runtime, words_max: int, sort_max: int
) -> None:
    user_id, rows = await _seed(runtime)
    queries: list[SearchQuery | None] = []

    class Recording(PostgresSearch):
        async def query(self, session: Any, terms: list[str], owner: str) -> SearchQuery | None:
            found = await super().query(session, terms, owner)
            queries.append(found)
            return found

    runtime.uow.search = Recording(SearchLimits(words_max=words_max, sort_max=sort_max))
    for q in ("inv", "team inv", "quokka", "te de", "zzz"):
        for sort in ("due", "-due"):
            expected = _expected(rows, TaskQuery(user_id=user_id, q=q, sort=sort))
            assert await _pages(runtime, TaskQuery(user_id=user_id, q=q, sort=sort, limit=7)) == expected, q
    first, last = queries[0], queries[-1]
    assert first is not None and last is None, "none of the owner's words starts with zzz: no list statement"
    if words_max:
        assert (first.indexed, first.scanned) == ("('inventory' | 'invite' | 'invoice')", None)
        assert first.upper == sum(t.title.count("inv") for t, _ in rows)  # each of those words once a task
    else:
        assert (first.indexed, first.scanned, first.upper) == (None, "'inv':*", None)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_postgres_word_list_follows_inserts_and_edits(runtime: Runtime) -> None:
    """search_vocabulary gains the words of new and edited tasks and loses those no task has any more; a
    prefix is expanded to every word it starts, host names and all, quoted as stored."""
    user_id, _ = await _seed(runtime)
    async with runtime.uow() as uow:
        task, _ = next(_tasks(user_id, 1, random.Random(1)))
        task.title = "ping inv.example.com about the café"
        uow.tasks.add(task)
        await uow.commit()
    async with runtime.uow() as uow:
        found = await uow.tasks.get(task.id, user_id=user_id)
        assert found is not None
        found.title = "zeppelin tickets"
        await uow.commit()

    async def search(q: str) -> list[str]:
        async with runtime.uow.views() as views:
            return [t.id for t in await views.find(TaskQuery(user_id=user_id, q=q, limit=200))]

    assert await search("zep") == [task.id]  # the edit's words, added by the update trigger
    assert await search("ping") == []  # the old title's words are gone from the vocabulary
    async with runtime.uow.reader() as uow:
        words = await uow.session.scalars(
            text("SELECT word FROM search_vocabulary WHERE user_id = :u AND word IN ('ping', 'zeppelin')"),
            {"u": user_id},
        )
        assert list(words) == ["zeppelin"]
        planner = PostgresSearch(SearchLimits())
        inv = await planner.query(uow.session, ["inv"], user_id)
        assert inv is not None and inv.indexed == "('inventory' | 'invite' | 'invoice')"  # the café's gone
        both = await planner.query(uow.session, ["zep", "tick"], user_id)
        assert both is not None and both.indexed == "'zeppelin' & 'tickets'"


@pytest.mark.postgres
async def test_postgres_search_without_btree_gin(pg_url: str) -> None:
    """A role that may not create extensions still migrates: the GIN index over words alone stays."""
    role = f"ts_plain_{uuid.uuid4().hex[:8]}"
    url = make_url(pg_url)
    admin = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN')
        await admin.execute(f'GRANT CREATE ON SCHEMA public TO "{role}"')
        engine = create_engine(url.set(username=role, password=None).render_as_string(hide_password=False))
        try:
            await migrate(engine)
            async with engine.connect() as connection:
                found = await connection.scalars(
                    text("SELECT indexname FROM pg_indexes WHERE tablename IN ('tasks', 'search_vocabulary')")
                )
                indexes = set(found)
        finally:
            await engine.dispose()
        assert {"ix_tasks_search", "pk_search_vocabulary"} <= indexes
        assert "ix_tasks_user_search" not in indexes
    finally:
        await admin.execute(f'DROP OWNED BY "{role}"')
        await admin.execute(f'DROP ROLE "{role}"')
        await admin.close()


async def test_upgrade_from_0002_keeps_existing_tasks_searchable(database_url: str) -> None:
    """A database with tasks made before migrations 0003-0008 finds them by prefix after the upgrade
    (SQLite: the FTS5 index is rebuilt; both: search_vocabulary is filled from the index as it stands)."""
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(migrate_to, "0002")
            await insert_user_and_task(connection, title="Renew the zeppelin licence", priority=2, at=BASE)
            await connection.execute(
                text("INSERT INTO task_tags (task_id, tag, user_id) VALUES ('t1', 'air', 'u1')")
            )
        await migrate(engine)
        factory = UnitOfWorkFactory(engine)
        async with factory.views() as views:
            for fields in ({"q": "zep"}, {"q": "lic ren"}, {"tags": ["air"], "priorities": [2]}):
                found = await views.find(TaskQuery(user_id="u1", **fields))
                assert [t.id for t in found] == ["t1"], fields
    finally:
        await engine.dispose()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_postgres_search_matches_plain_prefixes_where_the_parser_splits_words(runtime: Runtime) -> None:
    """`3e7f` reads as `3e7` then `f`, the stored word `1e5x` as `1e5` then `x`: such terms stay prefixes,
    so expansion never changes what matches (found by a new user's try)."""
    user_id, _ = await _seed(runtime)
    titles = ["Revert 3e7f1c2", "Measure 1e5 xylophones", "Order foo-1e5x widget", "Invoice inv.example.com"]
    async with runtime.uow() as uow:
        for n, (task, _) in enumerate(_tasks(user_id, len(titles), random.Random(3))):
            task.title = titles[n]
            uow.tasks.add(task)
        await uow.commit()
    for q in ("3e7f1c2", "3e7f", "revert 3e7f", "1e5x", "1e5", "1e", "inv", "invoice inv", "3e7f zzz"):
        terms = search_terms(q)
        async with runtime.uow.views() as views:
            found = {t.id for t in await views.find(TaskQuery(user_id=user_id, q=q, limit=200))}
        async with runtime.uow.reader() as uow:
            expected = set(
                await uow.session.scalars(
                    select(Task.id).where(
                        Task.user_id == user_id,
                        text("tasks.search @@ to_tsquery('simple', :q)").bindparams(
                            q=" & ".join(f"{t}:*" for t in terms)
                        ),
                    )
                )
            )
        assert found == expected, q
        assert q.startswith("3e7f zzz") or found, q  # each of the others matches something


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sqlite_index_follows_edits_and_deletes_of_tasks_and_users(runtime: Runtime) -> None:
    """FTS5 rowids hold the owner (migration 0005): triggers keep the index equal to its source view through
    inserts, edits, deletes and a deleted user, and back down to 0004 and up again."""
    user_id, rows = await _seed(runtime)
    edited, deleted = rows[0][0].id, rows[1][0].id
    async with runtime.uow() as uow:
        task = await uow.tasks.get(edited, user_id=user_id)
        assert task is not None
        task.title = "zeppelin tickets"
        gone = await uow.tasks.get(deleted, user_id=user_id)
        assert gone is not None
        await uow.tasks.delete(gone)
        other = await uow.session.scalar(select(User.id).where(User.id != user_id))
        await uow.session.execute(text("DELETE FROM users WHERE id = :id"), {"id": other})
        await uow.commit()

    async def check() -> None:
        async with runtime.engine.begin() as connection:
            await connection.execute(
                text("INSERT INTO tasks_fts(tasks_fts, rank) VALUES ('integrity-check', 1)")
            )
            owners = await connection.scalars(text("SELECT DISTINCT rowid >> 32 FROM tasks_fts"))
            mine = await connection.scalar(text("SELECT rowid FROM users WHERE id = :id"), {"id": user_id})
            assert list(owners) == [mine]  # the other user's entries went with their tasks
        async with runtime.uow.views() as views:
            assert [t.id for t in await views.find(TaskQuery(user_id=user_id, q="zep tick"))] == [edited]
            for q in ("team", "inv"):
                found = {t.id for t in await views.find(TaskQuery(user_id=user_id, q=q, limit=200))}
                kept = [row for row in rows if row[0].id not in (edited, deleted)]
                assert found == set(_expected(kept, TaskQuery(user_id, q))), q

    await check()

    async with runtime.engine.begin() as connection:
        await connection.run_sync(migrate_to, "0004", down=True)
        await connection.execute(text("INSERT INTO tasks_fts(tasks_fts, rank) VALUES ('integrity-check', 1)"))
        await connection.run_sync(migrate_to, "head")
    await check()

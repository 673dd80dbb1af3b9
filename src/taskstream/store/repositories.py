"""Repositories: all SQL for users, tasks, tags, reminders, notifications, audit and the inbox."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ARRAY,
    TextClause,
    and_,
    bindparam,
    delete,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from taskstream.store.tables import (
    AuditEntry,
    DeadLetter,
    InboxRow,
    Notification,
    Reminder,
    Task,
    TaskTag,
    User,
    UTCDateTime,
)

FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)
FAR_PAST = datetime(1, 1, 2, tzinfo=UTC)
_WORD = re.compile(r"\w+", re.UNICODE)


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, user: User) -> None:
        """Stage a new user."""
        self.session.add(user)

    async def get(self, user_id: str) -> User | None:
        """The user with this id, or None."""
        return await self.session.get(User, user_id)

    async def by_email(self, email: str) -> User | None:
        """The user with this (lower-cased) e-mail, or None."""
        return await self.session.scalar(select(User).where(User.email == email.lower()))


@dataclass
class TaskQuery:
    """A list request, already validated: every filter applies to the caller's tasks only."""

    user_id: str
    q: str | None = None
    completed: bool | None = None
    priorities: list[int] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    due_before: tuple[datetime, date] | None = None  # (instant for timed tasks, date for all-day tasks)
    due_after: tuple[datetime, date] | None = None
    overdue_at: tuple[datetime, date] | None = None  # overdue as of (now, today in the caller's zone)
    sort: str = "due"
    limit: int = 50
    after: tuple[object, str] | None = None  # keyset cursor: (sort value, task id)


SORTS = ("due", "-due", "priority", "-priority", "title", "created", "-created")


MAX_SEARCH_TERMS = 10  # distinct words in one search (the API answers 422 beyond)


def search_terms(q: str) -> list[str]:
    """The distinct words of a search query (letters and digits), lower-cased, in order of first use.

    The query is NFC-normalised first, so a decomposed é (as some keyboards send it) is the é stored. A
    capital dotted İ is read as I: both databases index it as i, while Python lower-cases it to i plus a
    combining dot, which would split the word.
    """
    return list(dict.fromkeys(_WORD.findall(unicodedata.normalize("NFC", q).replace("İ", "I").lower())))


# Search plans (TaskRepository._fts_plan on SQLite, _pg_query); figures from benchmark 3 at 1M tasks.
_PLAIN_TERM = re.compile(r"[a-z0-9]+")  # FTS5's unicode61 and PostgreSQL's 'simple' keep such a term as it is
_FTS_EXPAND_MAX = 8  # prefixes with more indexed words than this are not expanded
_FTS_SORT_MAX = 2_000  # at most this many of the user's tasks match: read them all, then sort
_FTS_PROBE_MIN = 10_000  # at least this many match: probe FTS5 task by task while walking in order
_ZONE_MARGIN = timedelta(days=2)  # more than any UTC offset: 00:00 of a date in any zone is within it
# The FTS5 rowid of a task is its owner's users.rowid << 32 | its own rowid (migration 0005), so one user's
# postings are one rowid range and FTS5 reads only that range.
_TASK_ROWID = 0xFFFF_FFFF
_FTS_OWNED = "rowid BETWEEN :first AND :last"


def _owned(owner_key: int) -> dict[str, int]:
    """The values of _FTS_OWNED's parameters for this owner (their users.rowid)."""
    return {"first": owner_key << 32, "last": owner_key << 32 | _TASK_ROWID}


def _fts_in(expression: str, owner_key: int, *, walk: bool) -> TextClause:
    """tasks.rowid among the owner's FTS5 matches; with walk, `+` stops SQLite driving the query by them."""
    column = "+tasks.rowid" if walk else "tasks.rowid"
    return text(
        f"{column} IN (SELECT rowid & {_TASK_ROWID} FROM tasks_fts "
        f"WHERE tasks_fts MATCH :fts AND {_FTS_OWNED})"
    ).bindparams(fts=expression, **_owned(owner_key))


def one_of(session: AsyncSession, column: Any, values: Sequence[Any]) -> Any:
    """`column IN values`; on PostgreSQL `= ANY` of one array parameter, so the statement text (and the plan
    asyncpg prepared for it) is the same whatever the number of values."""
    if session.get_bind().dialect.name == "postgresql":
        return column == func.any(bindparam("values", list(values), type_=ARRAY(column.type)))
    return column.in_(values)


def _due_sort_bound(instant: datetime, day: date, *, upper: bool) -> datetime:
    """A due_sort bound implied by `due_at vs instant OR due_date vs day` (all-day: 00:00 in its zone)."""
    midnight = datetime.combine(day, time(0), UTC)
    return max(instant, midnight + _ZONE_MARGIN) if upper else min(instant, midnight - _ZONE_MARGIN)


class TaskRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, task: Task) -> None:
        """Stage a new task."""
        self.session.add(task)

    async def get(self, task_id: str, *, user_id: str, for_update: bool = False) -> Task | None:
        """The caller's task with this id, or None (another user's task is None too)."""
        stmt = select(Task).where(Task.id == task_id, Task.user_id == user_id)
        if for_update:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def get_any(self, task_id: str) -> Task | None:
        """The task with this id whoever owns it (for services acting on events)."""
        return await self.session.get(Task, task_id)

    async def load(self, task_ids: Sequence[str]) -> list[Task]:
        """Load these tasks (whoever owns them) in one query, so get_any finds them without a round trip.

        The session's identity map holds objects weakly: keep the returned list while get_any is used.
        """
        if not task_ids:
            return []
        return list(await self.session.scalars(select(Task).where(Task.id.in_(set(task_ids)))))

    async def occurrence_exists(self, series_id: str, occurrence_key: str) -> bool:
        """True when the series already has the occurrence with this key."""
        found = await self.session.scalar(
            select(Task.id).where(Task.series_id == series_id, Task.occurrence_key == occurrence_key)
        )
        return found is not None

    async def delete(self, task: Task) -> None:
        """Delete a task (its tags and reminders go with it)."""
        await self.session.delete(task)

    async def tags_of(self, task_ids: Sequence[str]) -> dict[str, list[str]]:
        """Tags per task id, in name order."""
        result: dict[str, list[str]] = {tid: [] for tid in task_ids}
        if task_ids:
            rows = await self.session.execute(
                select(TaskTag.task_id, TaskTag.tag)
                .where(one_of(self.session, TaskTag.task_id, task_ids))
                .order_by(TaskTag.tag)
            )
            for task_id, tag in rows:
                result[task_id].append(tag)
        return result

    def add_tags(self, task: Task, tags: list[str]) -> None:
        """Stage the tags of a task that has none yet (a new task)."""
        self.session.add_all(self.tag_rows(task, tags))

    @staticmethod
    def tag_rows(task: Task, tags: list[str]) -> list[TaskTag]:
        """The task_tags rows of `task` for `tags` (not yet added to a session)."""
        return [TaskTag(task_id=task.id, tag=tag, user_id=task.user_id) for tag in tags]

    async def set_tags(self, task: Task, tags: list[str]) -> None:
        """Replace the task's tags."""
        await self.session.execute(delete(TaskTag).where(TaskTag.task_id == task.id))
        self.add_tags(task, tags)

    async def tag_counts(self, user_id: str) -> list[tuple[str, int, int]]:
        """(tag, open-task count, all-task count) for the user's tags, by name."""
        rows = await self.session.execute(
            select(
                TaskTag.tag,
                func.count().filter(Task.completed.is_(False)),
                func.count(),
            )
            .join(Task, Task.id == TaskTag.task_id)
            .where(TaskTag.user_id == user_id)
            .group_by(TaskTag.tag)
            .order_by(TaskTag.tag)
        )
        return [(tag, int(n_open), int(n_all)) for tag, n_open, n_all in rows]

    async def find(self, query: TaskQuery) -> list[Task]:
        """One page of the caller's tasks matching `query`, in sort order (limit + 1 rows to detect more)."""
        conditions: list[Any] = [Task.user_id == query.user_id]
        if query.completed is not None:
            conditions.append(Task.completed.is_(query.completed))
        if query.priorities:
            conditions.append(Task.priority.in_(query.priorities))
        for tag in query.tags:
            conditions.append(
                Task.id.in_(
                    select(TaskTag.task_id).where(TaskTag.user_id == query.user_id, TaskTag.tag == tag)
                )
            )
        # Timed tasks compare instants; all-day tasks compare dates (they float: never shifted by a zone).
        # Each due filter also bounds due_sort (implied by it, see _due_sort_bound) so an index serves it.
        due_filtered = False
        if query.due_before is not None:
            instant, day = query.due_before
            conditions.append(or_(Task.due_at < instant, Task.due_date < day))
            conditions.append(Task.due_sort < _due_sort_bound(instant, day, upper=True))
            due_filtered = True
        if query.due_after is not None:
            instant, day = query.due_after
            conditions.append(or_(Task.due_at >= instant, Task.due_date >= day))
            conditions.append(Task.due_sort >= _due_sort_bound(instant, day, upper=False))
            due_filtered = True
        if query.overdue_at is not None:
            now, today = query.overdue_at
            conditions.append(Task.completed.is_(False))
            conditions.append(or_(Task.due_at < now, Task.due_date < today))
            conditions.append(Task.due_sort < _due_sort_bound(now, today, upper=True))
            due_filtered = True
        by_due = query.sort in ("due", "-due")
        if query.q:
            terms = search_terms(query.q)
            if not terms:
                return []
            match = await self._matches(terms, query.user_id, by_due=by_due)
            if match is None:
                return []
            condition, by_due = match
            conditions.append(condition)
        if by_due:
            return await self._find_by_due(conditions, query, with_undated=not due_filtered)
        key, descending = self._sort_key(query.sort)
        if query.after is not None:
            value, last_id = query.after
            if descending:
                conditions.append(or_(key < value, and_(key == value, Task.id > last_id)))
            else:
                conditions.append(or_(key > value, and_(key == value, Task.id > last_id)))
        order = [key.desc() if descending else key.asc(), Task.id.asc()]
        rows = await self.session.scalars(
            select(Task).where(*conditions).order_by(*order).limit(query.limit + 1)
        )
        return list(rows)

    async def _find_by_due(
        self, conditions: list[Any], query: TaskQuery, *, with_undated: bool
    ) -> list[Task]:
        """The page in due order as two index walks on (user_id, due_sort, id): dated tasks, then undated.

        Same order as `_sort_key("due" | "-due")` (coalesce to a sentinel, then id), but each part is a range
        of ix_tasks_user_due_sort, so the database stops after limit + 1 rows instead of sorting every match.
        """
        descending = query.sort == "-due"
        sentinel = FAR_PAST if descending else FAR_FUTURE
        want = query.limit + 1
        dated = [*conditions, Task.due_sort.is_not(None)]
        undated = [*conditions, Task.due_sort.is_(None)]
        rows: list[Task] = []
        if query.after is not None:
            value, last_id = query.after
            if value == sentinel:  # the cursor is already among the undated tasks
                dated = []
                undated.append(Task.id > last_id)
            elif descending:
                dated += [Task.due_sort <= value, or_(Task.due_sort < value, Task.id > last_id)]
            else:
                dated += [Task.due_sort >= value, or_(Task.due_sort > value, Task.id > last_id)]
        if dated:
            due_order = Task.due_sort.desc() if descending else Task.due_sort.asc()
            stmt = select(Task).where(*dated).order_by(due_order, Task.id.asc()).limit(want)
            rows = list(await self.session.scalars(stmt))
        if len(rows) < want and with_undated:
            stmt = select(Task).where(*undated).order_by(Task.due_sort, Task.id.asc()).limit(want - len(rows))
            rows += await self.session.scalars(stmt)
        return rows

    async def _matches(self, terms: list[str], owner: str, *, by_due: bool) -> tuple[Any, bool] | None:
        """(condition, walk the due index?) for a search, or None when it cannot match anything.

        PostgreSQL's planner picks between the GIN index and an ordered walk by its own statistics; on SQLite
        _fts_plan chooses.
        """
        if self.session.get_bind().dialect.name == "postgresql":
            expression = await self._pg_query(terms)
            if expression is None:
                return None
            return text("tasks.search @@ to_tsquery('simple', :tsq)").bindparams(tsq=expression), by_due
        return await self._fts_plan(terms, owner, by_due=by_due)

    async def _pg_query(self, terms: list[str]) -> str | None:
        """PostgreSQL: the to_tsquery text for a search (every term a prefix), or None when nothing can match.

        GIN answers a prefix (`inv:*`) by collecting and merging the postings of every word it covers, about
        three times the cost of whole words (benchmark 3 at 1M tasks). So a term is expanded to the indexed
        words it stands for (search_words, kept by triggers, see migration 0003) when they are few, and when
        the term and each word are one token to the parser as they are: `3e7f` reads as the number `3e7` then
        `f`, and the stored word `1e5x` (from `foo-1e5x`) would be read back as `1e5` then `x`. Otherwise the
        term stays a prefix. Either way the same tasks match.
        """
        plain = [t for t in terms if _PLAIN_TERM.fullmatch(t)]
        words: dict[str, list[str]] = {}
        single: dict[str, bool] = {}
        if plain:
            rows = await self.session.execute(
                text(
                    "SELECT t.term, tsvector_to_array(to_tsvector('simple', t.term)) = ARRAY[t.term], "
                    " w.word, tsvector_to_array(to_tsvector('simple', w.word)) = ARRAY[w.word] "
                    "FROM unnest(CAST(:terms AS text[])) AS t(term) "
                    "LEFT JOIN LATERAL (SELECT word FROM search_words "
                    ' WHERE word >= t.term COLLATE "C" ORDER BY word LIMIT :cap) AS w '
                    "ON starts_with(w.word, t.term)"
                ).bindparams(terms=plain, cap=_FTS_EXPAND_MAX + 1)
            )
            for term, term_single, word, word_single in rows:
                listed = words.setdefault(term, [])
                single[term] = single.get(term, bool(term_single))
                if word is not None:
                    listed.append(word)
                    single[term] = single[term] and bool(word_single) and bool(_PLAIN_TERM.fullmatch(word))
        parts: list[str] = []
        for term in terms:
            found = words.get(term)
            if found is None or not single[term] or len(found) > _FTS_EXPAND_MAX:
                parts.append(f"{term}:*")
            elif not found:
                return None  # no indexed word starts with this term
            else:
                parts.append(found[0] if len(found) == 1 else "(" + " | ".join(found) + ")")
        return " & ".join(parts)

    async def _fts_plan(
        self, terms: list[str], owner: str, *, by_due: bool
    ) -> tuple[TextClause, bool] | None:
        """SQLite FTS5: (condition, walk the due index?) for a search, or None when it cannot match anything.

        Every shape reads only the owner's postings (see _FTS_OWNED). Prefixes are first expanded to the
        indexed words they stand for (the fts5vocab table tasks_fts_vocab) when there are few: FTS5 answers a
        prefix by merging the postings of every word it covers, every user's. Other sorts than due read every
        match and sort them. A due-ordered page takes the cheapest of three shapes, by how many of the user's
        tasks match (counted up to _FTS_PROBE_MIN):
        - at most _FTS_SORT_MAX: read the matches from FTS5 and sort them (one statement);
        - at least _FTS_PROBE_MIN, whole words only: walk the user's tasks in due order and probe FTS5 for
          each, stopping after a page (at most limit x tasks / _FTS_PROBE_MIN probes);
        - between: read the matches into a set once, then walk the user's tasks in order keeping those in it.
        A short prefix of many words is likely common, so it takes the last shape without counting.
        """
        owner_key, expansions = await self._fts_words(terms, owner)
        if owner_key is None:
            return None  # no such user, so no tasks
        parts: list[str] = []
        exact, many = True, False
        for term in terms:
            words = expansions.get(term)
            if words is not None and not words:
                return None  # no indexed word starts with this term
            if words is None or len(words) > _FTS_EXPAND_MAX:
                parts.append(f'"{term}"*')
                exact = False
                many = many or words is not None
            else:
                parts.append("(" + " OR ".join(f'"{w}"' for w in words) + ")")
        expression = " AND ".join(parts)
        if not by_due:
            return _fts_in(expression, owner_key, walk=False), False
        if many:
            return _fts_in(expression, owner_key, walk=True), True
        owned = _owned(owner_key)
        matched = await self.session.scalar(
            text(
                f"SELECT count(*) FROM (SELECT 1 FROM tasks_fts WHERE tasks_fts MATCH :fts AND {_FTS_OWNED} "
                "LIMIT :cap)"
            ).bindparams(fts=expression, cap=_FTS_PROBE_MIN, **owned)
        )
        if not matched or matched <= _FTS_SORT_MAX:
            return _fts_in(expression, owner_key, walk=False), False
        if exact and matched >= _FTS_PROBE_MIN:
            probe = (
                "EXISTS (SELECT 1 FROM tasks_fts WHERE tasks_fts MATCH :fts AND rowid = :first | tasks.rowid)"
            )
            return text(probe).bindparams(fts=expression, first=owned["first"]), True
        return _fts_in(expression, owner_key, walk=True), True

    async def _fts_words(self, terms: list[str], owner: str) -> tuple[int | None, dict[str, list[str]]]:
        """(the owner's users.rowid or None, the indexed words starting with each term), in one statement.

        Only terms of ASCII letters and digits are looked up, each to at most _FTS_EXPAND_MAX + 1 words: the
        vocabulary is walked in order from the term, one word at a time (the next word after `w` is the first
        one >= w || char(0)).
        """
        plain = list(dict.fromkeys(t for t in terms if _PLAIN_TERM.fullmatch(t)))
        walks, picks = [], ["SELECT NULL, rowid FROM users WHERE id = :owner"]
        params: dict[str, Any] = {"owner": owner}
        if plain:  # only the vocabulary walks use :cap
            params["cap"] = _FTS_EXPAND_MAX + 2
        for i, term in enumerate(plain):
            p, n = f":p{i}", f":n{i}"
            params |= {f"p{i}": term, f"n{i}": len(term)}
            walks.append(
                f"w{i}(term) AS (SELECT (SELECT term FROM tasks_fts_vocab WHERE term >= {p} LIMIT 1) "
                f"UNION ALL SELECT (SELECT v.term FROM tasks_fts_vocab AS v "
                f"WHERE v.term >= w{i}.term || char(0) LIMIT 1) "
                f"FROM w{i} WHERE substr(w{i}.term, 1, {n}) = {p} LIMIT :cap)"
            )
            picks.append(f"SELECT {i}, term FROM w{i} WHERE substr(term, 1, {n}) = {p}")
        statement = ("WITH RECURSIVE " + ", ".join(walks) + " " if walks else "") + " UNION ALL ".join(picks)
        owner_key: int | None = None
        words: dict[str, list[str]] = {term: [] for term in plain}
        for index, value in await self.session.execute(text(statement).bindparams(**params)):
            if index is None:
                owner_key = value
            else:
                words[plain[index]].append(value)
        return owner_key, words

    @staticmethod
    def _sort_key(sort: str) -> tuple[Any, bool]:
        """(sort expression, descending?) — tasks without a due date sort last either way."""
        far_future = literal(FAR_FUTURE, UTCDateTime())
        far_past = literal(FAR_PAST, UTCDateTime())
        keys: dict[str, tuple[Any, bool]] = {
            "due": (func.coalesce(Task.due_sort, far_future), False),
            "-due": (func.coalesce(Task.due_sort, far_past), True),
            "priority": (Task.priority, True),  # most pressing first
            "-priority": (Task.priority, False),
            "title": (func.lower(Task.title), False),
            "created": (Task.created_at, False),
            "-created": (Task.created_at, True),
        }
        return keys[sort]

    @staticmethod
    def sort_value(task: Task, sort: str) -> object:
        """The value of `task` under `sort`, as stored in a cursor."""
        if sort in ("due", "-due"):
            return task.due_sort or (FAR_FUTURE if sort == "due" else FAR_PAST)
        if sort in ("priority", "-priority"):
            return task.priority
        if sort == "title":
            return task.title.lower()
        return task.created_at


class ReminderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        # The tasks of the rows claim_due returned, held so the identity map keeps them (it holds weakly).
        self._claimed_tasks: list[Task] = []

    def add_all(self, reminders: Sequence[Reminder]) -> None:
        """Stage reminder rows."""
        self.session.add_all(reminders)

    async def of_tasks(self, task_ids: Sequence[str]) -> dict[str, list[Reminder]]:
        """Reminder rows per task id, in position order (snoozes last)."""
        result: dict[str, list[Reminder]] = {tid: [] for tid in task_ids}
        if task_ids:
            rows = await self.session.scalars(
                select(Reminder)
                .where(one_of(self.session, Reminder.task_id, task_ids))
                .order_by(Reminder.position, Reminder.id)
            )
            for row in rows:
                result[row.task_id].append(row)
        return result

    async def get(self, reminder_id: str) -> Reminder | None:
        """The reminder row, or None."""
        return await self.session.get(Reminder, reminder_id)

    async def delete_for_task(self, task_id: str) -> None:
        """Remove every reminder row of a task (before rewriting them)."""
        await self.session.execute(delete(Reminder).where(Reminder.task_id == task_id))

    async def cancel_pending(self, task_id: str) -> None:
        """Pending reminders of the task will not fire (task completed)."""
        await self.session.execute(
            update(Reminder)
            .where(Reminder.task_id == task_id, Reminder.state == "pending")
            .values(state="cancelled")
        )

    async def claim_due(self, now: datetime, *, limit: int) -> list[Reminder]:
        """Pending reminders whose fire time has come, locked for this transaction (SKIP LOCKED on PG)."""
        stmt = (
            select(Reminder)
            .where(Reminder.state == "pending", Reminder.fire_at <= now)
            .order_by(Reminder.fire_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = list(await self.session.scalars(stmt))
        if rows:
            # One query loads the rows' tasks into the session, so the caller's per-row get_any() finds each
            # in the identity map instead of a round trip (and an autoflush) per reminder. The identity map
            # holds objects weakly: keep them referenced for this unit of work (docs/benchmarks.md, bench 4).
            self._claimed_tasks = await TaskRepository(self.session).load([row.task_id for row in rows])
        return rows

    async def pending_until(self, until: datetime) -> dict[str, datetime]:
        """Pending reminders firing at or before `until` (UTC): reminder id → fire time."""
        rows = await self.session.execute(
            select(Reminder.id, Reminder.fire_at).where(
                Reminder.state == "pending", Reminder.fire_at <= until
            )
        )
        return {row.id: row.fire_at for row in rows if row.fire_at is not None}

    async def next_fire_at(self) -> datetime | None:
        """The earliest pending fire time, or None."""
        return await self.session.scalar(
            select(func.min(Reminder.fire_at)).where(Reminder.state == "pending")
        )


class NotificationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_once(self, notification: Notification) -> bool:
        """Insert unless one exists for (task, reminder, occurrence); True when inserted."""
        exists = await self.session.scalar(
            select(Notification.id).where(
                Notification.task_id == notification.task_id,
                Notification.reminder_id == notification.reminder_id,
                Notification.occurrence_key == notification.occurrence_key,
            )
        )
        if exists is not None:
            return False
        self.session.add(notification)
        return True

    async def recent(self, user_id: str, *, unread_only: bool = False, limit: int = 50) -> list[Notification]:
        """The user's newest notifications first."""
        stmt = select(Notification).where(Notification.user_id == user_id)
        if unread_only:
            stmt = stmt.where(Notification.read_at.is_(None))
        stmt = stmt.order_by(Notification.created_at.desc(), Notification.id).limit(limit)
        return list(await self.session.scalars(stmt))

    async def get(self, notification_id: str, *, user_id: str) -> Notification | None:
        """The caller's notification, or None."""
        return await self.session.scalar(
            select(Notification).where(Notification.id == notification_id, Notification.user_id == user_id)
        )


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, entry: AuditEntry) -> None:
        """Append an entry (the table is never updated)."""
        self.session.add(entry)

    async def recent(
        self, user_id: str, *, task_id: str | None = None, limit: int = 100, before_id: int | None = None
    ) -> list[AuditEntry]:
        """The user's entries, newest first; optionally one task's only."""
        stmt = select(AuditEntry).where(AuditEntry.user_id == user_id)
        if task_id is not None:
            stmt = stmt.where(AuditEntry.task_id == task_id)
        if before_id is not None:
            stmt = stmt.where(AuditEntry.id < before_id)
        return list(await self.session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(limit)))

    def add_dead_letter(self, letter: DeadLetter) -> None:
        """Record an event a consumer gave up on."""
        self.session.add(letter)


class InboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def seen(self, consumer: str, event_id: str) -> bool:
        """True when `consumer` already processed `event_id`."""
        found = await self.session.get(InboxRow, (consumer, event_id))
        return found is not None

    async def seen_among(self, consumer: str, event_ids: Sequence[str]) -> set[str]:
        """Which of `event_ids` `consumer` already processed (one query)."""
        rows = await self.session.scalars(
            select(InboxRow.event_id).where(InboxRow.consumer == consumer, InboxRow.event_id.in_(event_ids))
        )
        return set(rows)

    def record_unflushed(self, consumer: str, event_id: str, at: datetime) -> None:
        """Stage the inbox row; the commit fails on the primary key if another delivery won the race."""
        self.session.add(InboxRow(consumer=consumer, event_id=event_id, processed_at=at))

    async def record(self, consumer: str, event_id: str, at: datetime) -> None:
        """Record the event as processed (same transaction as the effect); flushes to hit the key early."""
        self.session.add(InboxRow(consumer=consumer, event_id=event_id, processed_at=at))
        try:
            await self.session.flush()
        except IntegrityError as error:
            raise AlreadyProcessed(event_id) from error


class AlreadyProcessed(Exception):
    """Another delivery of the same event committed first."""

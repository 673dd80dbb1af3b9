"""Task search: the words of a query, and one planner per database that turns them into a condition.

A planner answers (SQL condition, walk the due index?) for the caller's tasks, or None when nothing can
match; the repository adds it to the list statement. Where a plan switches is a SearchLimits, injected by
the composition root (tests force each plan through it).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from taskstream.store.profile import DatabaseProfile

_WORD = re.compile(r"\w+", re.UNICODE)
_PLAIN_TERM = re.compile(r"[a-z0-9]+")  # FTS5's unicode61 and PostgreSQL's 'simple' keep such a term as it is

MAX_SEARCH_TERMS = 10  # distinct words in one search (the API answers 422 beyond)


def search_terms(q: str) -> list[str]:
    """The distinct words of a search query (letters and digits), lower-cased, in order of first use.

    The query is NFC-normalised first, so a decomposed é (as some keyboards send it) is the é stored. A
    capital dotted İ is read as I: both databases index it as i, while Python lower-cases it to i plus a
    combining dot, which would split the word.
    """
    return list(dict.fromkeys(_WORD.findall(unicodedata.normalize("NFC", q).replace("İ", "I").lower())))


@dataclass(frozen=True)
class SearchLimits:
    """Where the plans switch; figures from benchmark 3 at 1M tasks (docs/benchmarks.md).

    expand_max: prefixes with more indexed words than this are not expanded; sort_max: at most this many of
    the user's tasks match: read them all, then sort; probe_min: at least this many match: probe FTS5 task
    by task while walking in due order.
    """

    expand_max: int = 8
    sort_max: int = 2_000
    probe_min: int = 10_000


class SearchPlanner(Protocol):
    """Turns search terms into a condition on the owner's tasks."""

    async def condition(
        self, session: AsyncSession, terms: list[str], owner: str, *, by_due: bool
    ) -> tuple[Any, bool] | None:
        """(condition, walk the due index?) for `terms` over `owner`'s tasks; None when nothing matches."""
        ...


def planner_for(profile: DatabaseProfile, limits: SearchLimits | None = None) -> SearchPlanner:
    """The planner of the profile's database."""
    limits = limits or SearchLimits()
    return PostgresSearch(limits) if profile.name == "postgresql" else SqliteSearch(limits)


class PostgresSearch:
    """PostgreSQL: a to_tsquery over the GIN index; its own planner picks between GIN and an ordered walk."""

    def __init__(self, limits: SearchLimits) -> None:
        self._limits = limits

    async def condition(
        self, session: AsyncSession, terms: list[str], owner: str, *, by_due: bool
    ) -> tuple[Any, bool] | None:
        """See SearchPlanner; `owner` is already a condition of the list statement."""
        expression = await self.expression(session, terms)
        if expression is None:
            return None
        return text("tasks.search @@ to_tsquery('simple', :tsq)").bindparams(tsq=expression), by_due

    async def expression(self, session: AsyncSession, terms: list[str]) -> str | None:
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
            rows = await session.execute(
                text(
                    "SELECT t.term, tsvector_to_array(to_tsvector('simple', t.term)) = ARRAY[t.term], "
                    " w.word, tsvector_to_array(to_tsvector('simple', w.word)) = ARRAY[w.word] "
                    "FROM unnest(CAST(:terms AS text[])) AS t(term) "
                    "LEFT JOIN LATERAL (SELECT word FROM search_words "
                    ' WHERE word >= t.term COLLATE "C" ORDER BY word LIMIT :cap) AS w '
                    "ON starts_with(w.word, t.term)"
                ).bindparams(terms=plain, cap=self._limits.expand_max + 1)
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
            if found is None or not single[term] or len(found) > self._limits.expand_max:
                parts.append(f"{term}:*")
            elif not found:
                return None  # no indexed word starts with this term
            else:
                parts.append(found[0] if len(found) == 1 else "(" + " | ".join(found) + ")")
        return " & ".join(parts)


class SqliteSearch:
    """SQLite FTS5, reading only the owner's postings."""

    def __init__(self, limits: SearchLimits) -> None:
        self._limits = limits

    async def condition(
        self, session: AsyncSession, terms: list[str], owner: str, *, by_due: bool
    ) -> tuple[TextClause, bool] | None:
        """SQLite FTS5: (condition, walk the due index?) for a search, or None when it cannot match anything.

        Every shape reads only the owner's postings (see _FTS_OWNED). Prefixes are first expanded to the
        indexed words they stand for (the fts5vocab table tasks_fts_vocab) when there are few: FTS5 answers a
        prefix by merging the postings of every word it covers, every user's. Other sorts than due read every
        match and sort them. A due-ordered page takes the cheapest of three shapes, by how many of the user's
        tasks match (counted up to probe_min):
        - at most sort_max: read the matches from FTS5 and sort them (one statement);
        - at least probe_min, whole words only: walk the user's tasks in due order and probe FTS5 for
          each, stopping after a page (at most limit x tasks / probe_min probes);
        - between: read the matches into a set once, then walk the user's tasks in order keeping those in it.
        A short prefix of many words is likely common, so it takes the last shape without counting.
        """
        owner_key, expansions = await self._words(session, terms, owner)
        if owner_key is None:
            return None  # no such user, so no tasks
        parts: list[str] = []
        exact, many = True, False
        for term in terms:
            words = expansions.get(term)
            if words is not None and not words:
                return None  # no indexed word starts with this term
            if words is None or len(words) > self._limits.expand_max:
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
        matched = await session.scalar(
            text(
                f"SELECT count(*) FROM (SELECT 1 FROM tasks_fts WHERE tasks_fts MATCH :fts AND {_FTS_OWNED} "
                "LIMIT :cap)"
            ).bindparams(fts=expression, cap=self._limits.probe_min, **owned)
        )
        if not matched or matched <= self._limits.sort_max:
            return _fts_in(expression, owner_key, walk=False), False
        if exact and matched >= self._limits.probe_min:
            probe = (
                "EXISTS (SELECT 1 FROM tasks_fts WHERE tasks_fts MATCH :fts AND rowid = :first | tasks.rowid)"
            )
            return text(probe).bindparams(fts=expression, first=owned["first"]), True
        return _fts_in(expression, owner_key, walk=True), True

    async def _words(
        self, session: AsyncSession, terms: list[str], owner: str
    ) -> tuple[int | None, dict[str, list[str]]]:
        """(the owner's users.rowid or None, the indexed words starting with each term), in one statement.

        Only terms of ASCII letters and digits are looked up, each to at most expand_max + 1 words: the
        vocabulary is walked in order from the term, one word at a time (the next word after `w` is the first
        one >= w || char(0)).
        """
        plain = list(dict.fromkeys(t for t in terms if _PLAIN_TERM.fullmatch(t)))
        walks, picks = [], ["SELECT NULL, rowid FROM users WHERE id = :owner"]
        params: dict[str, Any] = {"owner": owner}
        if plain:  # only the vocabulary walks use :cap
            params["cap"] = self._limits.expand_max + 2
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
        for index, value in await session.execute(text(statement).bindparams(**params)):
            if index is None:
                owner_key = value
            else:
                words[plain[index]].append(value)
        return owner_key, words


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

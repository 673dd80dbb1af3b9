"""PostgreSQL search: a tsquery of the caller's own words over the GIN index of (user_id, search)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, text

if TYPE_CHECKING:
    from taskstream.features.tasks.search import Executor, SearchLimits

# Sorts after every word that starts with a given prefix: a noncharacter, never part of a lexeme.
_AFTER = "\U0010ffff"

# Per term: its lexemes as to_tsquery('simple', 'term:*') reads them (the parser's tokens, at their
# positions), each with the owner's words that start with it and their task counts (at most :cap, in word
# order; none: NULL).
_LOOKUP = (
    "SELECT t.i, l.lexeme, l.positions, w.word, w.tasks "
    "FROM unnest(CAST(:terms AS text[])) WITH ORDINALITY AS t(term, i) "
    "CROSS JOIN LATERAL unnest(to_tsvector('simple', t.term)) AS l(lexeme, positions, weights) "
    "LEFT JOIN LATERAL (SELECT v.word, v.tasks FROM search_vocabulary AS v WHERE v.user_id = :owner "
    ' AND v.word >= l.lexeme COLLATE "C" AND v.word < (l.lexeme || :after) COLLATE "C" '
    " ORDER BY v.word LIMIT :cap) AS w ON true"
)


@dataclass(frozen=True)
class SearchQuery:
    """The tsquery texts (tsquery input syntax) of a search, at least one of them set.

    indexed: every term of at most words_max words per lexeme, each lexeme replaced by the owner's words
    that start with it, for the GIN index; scanned: the other terms as prefixes (`'inv':*`), to be checked
    on each of the owner's tasks and never handed to the index; upper: at most this many of the owner's
    tasks match (from the words' task counts; None: unknown).
    """

    indexed: str | None
    scanned: str | None
    upper: int | None


@dataclass
class _Lexeme:
    positions: list[int]
    words: list[str]
    tasks: int = 0  # of the owner's tasks with one of the words, at most (their counts added)


class PostgresSearch:
    """PostgreSQL: the owner's words as a tsquery over the GIN index of (user_id, search)."""

    def __init__(self, limits: SearchLimits) -> None:
        self._limits = limits

    async def condition(
        self, session: Executor, terms: list[str], owner: str, *, by_due: bool
    ) -> tuple[Any, bool] | None:
        """See SearchPlanner; `owner` is already a condition of the list statement.

        PostgreSQL's planner chooses between the GIN index and the due walk, but from statistics of every
        user's words, which overrate a rare word of the owner's: when the words' task counts put the matches
        at sort_max or fewer, they are all read through GIN and sorted (no walk), as on SQLite.
        """
        query = await self.query(session, terms, owner)
        if query is None:
            return None
        conditions = []
        if query.indexed is not None:
            conditions.append(text("tasks.search @@ CAST(:tsq AS tsquery)").bindparams(tsq=query.indexed))
        if query.scanned is not None:
            # A function call, not the operator: no index can serve it, so only the owner's rows are read.
            scan = text("ts_match_vq(tasks.search, CAST(:scan AS tsquery))").bindparams(scan=query.scanned)
            conditions.append(scan)
        few = query.upper is not None and query.upper <= self._limits.sort_max
        return and_(*conditions), by_due and not few

    async def query(self, session: Executor, terms: list[str], owner: str) -> SearchQuery | None:
        """The tsquery of `owner`'s search for `terms` (every term a prefix), or None when nothing can match.

        A term is read as to_tsquery('simple', 'term:*') reads it: its lexemes in order, each a prefix
        (`3e7f` is the number `3e7` then `f`: '3e7':* <-> 'f':*). Each lexeme is replaced by the owner's
        words that start with it, quoted as they are stored (the stored word `1e5x`, from `foo-1e5x`, would
        be read back as two lexemes by to_tsquery), so the same tasks match. A term of a lexeme that more
        than words_max of the owner's words start with stays a prefix, checked on each of the owner's
        tasks: a large OR costs GIN that many checks per candidate task (seconds at 2,000 words,
        docs/benchmarks.md). A term the parser finds no lexeme in is left out, as to_tsquery leaves it; a
        lexeme none of the owner's words starts with matches nothing.
        """
        found: dict[int, dict[str, _Lexeme]] = {}
        cap = self._limits.words_max + 1
        rows = await session.execute(
            text(_LOOKUP).bindparams(terms=terms, owner=owner, after=_AFTER, cap=cap)
        )
        for index, lexeme, positions, word, tasks in rows:
            entry = found.setdefault(index, {}).setdefault(lexeme, _Lexeme(list(positions), []))
            if word is not None:
                entry.words.append(word)
                entry.tasks += tasks
        indexed: list[str] = []
        scanned: list[str] = []
        upper: int | None = None
        for lexemes in found.values():
            if any(not entry.words for entry in lexemes.values()):
                return None
            if any(len(entry.words) > self._limits.words_max for entry in lexemes.values()):
                scanned.append(_phrase(lexemes, lambda lexeme, _: _quote(lexeme) + ":*"))
                continue
            indexed.append(_phrase(lexemes, lambda _, entry: _any(entry.words)))
            fewest = min(entry.tasks for entry in lexemes.values())
            upper = fewest if upper is None else min(upper, fewest)
        if not indexed and not scanned:
            return None  # no term has a lexeme: an empty tsquery, which matches nothing
        return SearchQuery(" & ".join(indexed) or None, " & ".join(scanned) or None, upper)


def _phrase(lexemes: dict[str, _Lexeme], item: Callable[[str, _Lexeme], str]) -> str:
    """A term's lexemes in position order, `<->` between neighbours; item(lexeme, entry) writes each."""
    slots = sorted((position, lexeme) for lexeme, entry in lexemes.items() for position in entry.positions)
    parts = [item(lexeme, lexemes[lexeme]) for _, lexeme in slots]
    if len(parts) == 1:
        return parts[0]
    glue = [" <-> " if b - a == 1 else f" <{b - a}> " for (a, _), (b, _) in itertools.pairwise(slots)]
    return "(" + parts[0] + "".join(g + p for g, p in zip(glue, parts[1:], strict=True)) + ")"


def _any(words: list[str]) -> str:
    """One of these whole words (tsquery input)."""
    return _quote(words[0]) if len(words) == 1 else "(" + " | ".join(_quote(w) for w in words) + ")"


def _quote(word: str) -> str:
    """A lexeme in tsquery input syntax, taken as it is (no parser, no dictionary)."""
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"

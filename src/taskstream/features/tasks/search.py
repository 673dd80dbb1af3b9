"""Task search: the words of a query, and one planner per database that turns them into a condition.

A planner answers (SQL condition, walk the due index?) for the caller's tasks, or None when nothing can
match; the repository adds it to the list statement. Where a plan switches is a SearchLimits, injected by
the composition root (tests force each plan through it).

Every term is a prefix, and a planner first expands it to the caller's own words that start with it, read
from search_vocabulary (one row per user and indexed word, kept by triggers: migration 0008). No statement of
a search reads another user's words: a term none of the caller's words starts with answers nothing without
touching the full-text index, and the index is then asked only for whole words the caller has (security
finding H1: expanding against every user's words, or leaving a prefix to the index, which merges the postings
of every user's words it covers, made an empty answer slower when another user had such a word).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from taskstream.features.tasks.search_postgres import PostgresSearch
from taskstream.features.tasks.search_sqlite import SqliteSearch
from taskstream.store.profile import DatabaseProfile

__all__ = [
    "MAX_SEARCH_TERMS",
    "Executor",
    "PostgresSearch",
    "SearchLimits",
    "SearchPlanner",
    "SqliteSearch",
    "planner_for",
    "search_terms",
]

Executor = AsyncConnection | AsyncSession  # what a plan reads through: both execute Core statements

_WORD = re.compile(r"\w+", re.UNICODE)

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

    Counts are of the caller's own words and tasks. expand_max (SQLite): a term of more words than this is
    likely common, so a due-ordered page reads its matches into a set and keeps them while walking, never
    counting nor probing them; words_max (PostgreSQL): a term with a lexeme of more words than this is
    checked on each of the caller's tasks instead of handed to the GIN index; sort_max: at most this many
    tasks match (told by the words' task counts, or on SQLite counted by FTS5): read them all, then sort;
    probe_min (SQLite): at least this many match: probe FTS5 task by task while walking in due order.
    """

    expand_max: int = 8
    words_max: int = 128
    sort_max: int = 2_000
    probe_min: int = 10_000


class SearchPlanner(Protocol):
    """Turns search terms into a condition on the owner's tasks."""

    async def condition(
        self, session: Executor, terms: list[str], owner: str, *, by_due: bool
    ) -> tuple[Any, bool] | None:
        """(condition, walk the due index?) for `terms` over `owner`'s tasks; None when nothing matches."""
        ...


def planner_for(profile: DatabaseProfile, limits: SearchLimits | None = None) -> SearchPlanner:
    """The planner of the profile's database."""
    limits = limits or SearchLimits()
    return PostgresSearch(limits) if profile.name == "postgresql" else SqliteSearch(limits)

"""SQLite search: FTS5 asked only for the caller's own words, and only inside the caller's rowid range."""

from __future__ import annotations

import re
import sqlite3
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import TextClause, text

if TYPE_CHECKING:
    from taskstream.features.tasks.search import Executor, SearchLimits

_PLAIN_TERM = re.compile(r"[a-z0-9]+")  # unicode61 keeps such a term as it is: one token, the term itself
# Sorts after every word that starts with a given prefix: a noncharacter, never inside a unicode61 token.
_AFTER = "\U0010ffff"

# As tasks_fts's (migrations 0001 and 0005); FTS5 reads a query's words with it too.
TOKENIZER = "unicode61 remove_diacritics 2"
_local = threading.local()  # each thread's in-memory tokenizer (see _tokens)


@dataclass(frozen=True)
class _Term:
    """A term as FTS5 reads it: whole tokens, then the caller's words that start with its last token."""

    whole: list[str]
    words: list[tuple[str, int]]  # (word, how many of the caller's tasks have it), in word order
    upper: int  # at most this many of the caller's tasks match the term
    lower: int  # at least this many do


class SqliteSearch:
    """SQLite FTS5, reading only the owner's words and the owner's postings."""

    def __init__(self, limits: SearchLimits) -> None:
        self._limits = limits

    async def condition(
        self, session: Executor, terms: list[str], owner: str, *, by_due: bool
    ) -> tuple[TextClause, bool] | None:
        """SQLite FTS5: (condition, walk the due index?) for a search, or None when it cannot match anything.

        Each term is expanded to every one of the owner's words that starts with it (search_vocabulary), and
        FTS5 is asked for those whole words within the owner's rowid range (see _FTS_OWNED); a term that
        none of the owner's words starts with answers None before FTS5 is read. FTS5 answers a prefix by
        merging the postings of every user's words it covers, so no prefix is left to it, whatever the
        number of words: each costs a look-up (about 30 µs at 1M tasks, docs/benchmarks.md).
        Other sorts than due read every match and sort them. A due-ordered page takes the cheapest of three
        shapes, by how many of the user's tasks match (told by the words' task counts when they can, else
        counted by FTS5 up to probe_min):
        - at most sort_max: read the matches from FTS5 and sort them (one statement);
        - at least probe_min: walk the user's tasks in due order and probe FTS5 for each, stopping after a
          page (at most limit x tasks / probe_min probes);
        - between: read the matches into a set once, then walk the user's tasks in order keeping those in it.
        A term of more than expand_max words, unless the counts put it below sort_max, takes the last shape
        without counting: it is likely common, and a probe would look up every word for each task.
        """
        tokens = _tokens(terms)
        if not all(tokens.values()):
            return None  # FTS5 reads no token in this term: an empty phrase, which matches nothing
        found = await self._vocabulary(session, tokens, owner)
        if found is None:
            return None  # no such user, or a term that none of the owner's words starts with
        owner_key, expanded = found
        expression = " AND ".join(
            "(" + " OR ".join(_phrase([*term.whole, word]) for word, _ in term.words) + ")"
            for term in expanded
        )
        if not by_due:
            return _fts_in(expression, owner_key, walk=False), False
        return await self._due_plan(session, expression, owner_key, expanded)

    async def _due_plan(
        self, session: Executor, expression: str, owner_key: int, expanded: list[_Term]
    ) -> tuple[TextClause, bool]:
        """The shape of a due-ordered search (see condition) for the FTS5 `expression` of its terms."""
        limits = self._limits
        matched = self._known_count(expanded)
        if matched is None and any(len(term.words) > limits.expand_max for term in expanded):
            return _fts_in(expression, owner_key, walk=True), True
        owned = _owned(owner_key)
        if matched is None:
            matched = await session.scalar(
                text(
                    "SELECT count(*) FROM (SELECT 1 FROM tasks_fts "
                    f"WHERE tasks_fts MATCH :fts AND {_FTS_OWNED} LIMIT :cap)"
                ).bindparams(fts=expression, cap=limits.probe_min, **owned)
            )
        if not matched or matched <= limits.sort_max:
            return _fts_in(expression, owner_key, walk=False), False
        if matched >= limits.probe_min and all(len(term.words) <= limits.expand_max for term in expanded):
            probe = (
                "EXISTS (SELECT 1 FROM tasks_fts WHERE tasks_fts MATCH :fts AND rowid = :first | tasks.rowid)"
            )
            return text(probe).bindparams(fts=expression, first=owned["first"]), True
        return _fts_in(expression, owner_key, walk=True), True

    def _known_count(self, expanded: list[_Term]) -> int | None:
        """How many of the owner's tasks match, as far as the plan needs it, when the words' task counts
        tell (terms are ANDed, a term's words ORed): at most sort_max (an upper bound), or the count capped
        at probe_min. None: FTS5 must count."""
        upper = min(term.upper for term in expanded)
        if upper <= self._limits.sort_max:
            return upper
        lower = expanded[0].lower if len(expanded) == 1 else 0
        if lower >= self._limits.probe_min or lower == upper:
            return min(lower, self._limits.probe_min)
        return None

    async def _vocabulary(
        self, session: Executor, tokens: dict[str, list[str]], owner: str
    ) -> tuple[int, list[_Term]] | None:
        """(the owner's users.rowid, each term with the owner's words) in one statement, or None when there
        is no such user or a term that none of the owner's words starts with.

        Each prefix (a term's last token) reads the owner's words in [prefix, prefix + _AFTER) of the primary
        key; the other tokens of a term are looked up whole.
        """
        prefixes = list(dict.fromkeys(found[-1] for found in tokens.values()))
        wholes = list(dict.fromkeys(token for found in tokens.values() for token in found[:-1]))
        picks = ["SELECT NULL, NULL, rowid FROM users WHERE id = :owner"]
        params: dict[str, Any] = {"owner": owner}
        for i, prefix in enumerate(prefixes):
            params |= {f"p{i}": prefix, f"e{i}": prefix + _AFTER}
            picks.append(
                f"SELECT {i}, word, tasks FROM (SELECT word, tasks FROM search_vocabulary "
                f"WHERE user_id = :owner AND word >= :p{i} AND word < :e{i} ORDER BY word)"
            )
        for j, token in enumerate(wholes):
            params[f"w{j}"] = token
            picks.append(
                f"SELECT {-1 - j}, word, tasks FROM search_vocabulary WHERE user_id = :owner AND word = :w{j}"
            )
        owner_key: int | None = None
        words: dict[str, list[tuple[str, int]]] = {prefix: [] for prefix in prefixes}
        counts: dict[str, int] = {}
        for index, word, value in await session.execute(text(" UNION ALL ".join(picks)).bindparams(**params)):
            if index is None:
                owner_key = value
            elif index >= 0:
                words[prefixes[index]].append((word, value))
            else:
                counts[word] = value
        if owner_key is None:
            return None
        expanded: list[_Term] = []
        for found in tokens.values():
            *whole, last = found
            if not words[last] or any(token not in counts for token in whole):
                return None
            task_counts = [n for _, n in words[last]]
            upper = min([sum(task_counts), *(counts[token] for token in whole)])
            expanded.append(_Term(whole, words[last], upper, 0 if whole else max(task_counts)))
        return owner_key, expanded


def _tokens(terms: list[str]) -> dict[str, list[str]]:
    """The tokens FTS5 reads in each term, in order (a term of ASCII letters and digits is its own token).

    Other terms go through FTS5's own tokenizer: é is read as e, and a term may hold several tokens
    (`foo_bar`: foo, bar) or none. The tokenizer is a property of the SQLite library, not of a database, so
    this runs on a private in-memory database of this thread: no statement to the tasks' database.
    """
    tokens = {term: [term] for term in terms if _PLAIN_TERM.fullmatch(term)}
    odd = [term for term in terms if term not in tokens]
    if not odd:
        return tokens
    db: sqlite3.Connection | None = getattr(_local, "db", None)
    if db is None:
        db = sqlite3.connect(":memory:", isolation_level=None)
        db.execute(f"CREATE VIRTUAL TABLE query USING fts5(term, content='', tokenize='{TOKENIZER}')")
        db.execute("CREATE VIRTUAL TABLE query_tokens USING fts5vocab(query, 'instance')")
        _local.db = db
    read: dict[str, list[str]] = {term: [] for term in odd}
    db.execute("BEGIN")
    try:
        db.executemany("INSERT INTO query(rowid, term) VALUES (?, ?)", enumerate(odd, 1))
        for doc, token in db.execute('SELECT doc, term FROM query_tokens ORDER BY doc, "offset"'):
            read[odd[doc - 1]].append(token)
    finally:
        db.execute("ROLLBACK")  # the table stays empty
    return {term: tokens.get(term) or read[term] for term in terms}


def _phrase(tokens: list[str]) -> str:
    """An FTS5 string of these tokens: one whole word, or consecutive words (a phrase)."""
    return '"' + " ".join(tokens).replace('"', '""') + '"'


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

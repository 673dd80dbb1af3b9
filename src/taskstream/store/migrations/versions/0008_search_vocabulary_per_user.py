"""search_vocabulary: each user's own indexed words, for prefix expansion

Revision ID: 0008
Revises: 0007

A search expands each prefix to the caller's words that start with it. Until now those came from a list of
every user's words (search_words on PostgreSQL, the fts5vocab table tasks_fts_vocab on SQLite), and a prefix
of many words stayed a prefix that the full-text index answers by merging the postings of every user's words
(security finding H1: how long an empty answer took told whether another user had a word). Now
search_vocabulary holds (user_id, word, tasks): the words of each user's task titles and descriptions as the
full-text index holds them, and in how many of the user's tasks each occurs. Triggers keep it exactly in step:
a word is added by the first of the user's tasks that has it and removed with the last; a deleted user's rows
go by cascade. search_words, its triggers and tasks_fts_vocab are dropped (nothing else reads them).

The words are the index's own, never a tokeniser of ours:
- PostgreSQL: the lexemes of tasks.search (to_tsvector('simple', ...), a generated column). Inserts are
  counted once per statement (a group commit's multi-row INSERT), edits (only when the lexemes or the owner
  changed) and deletes per row (a deleted user's tasks are skipped: their rows go by cascade); TRUNCATE
  empties it. About 0.2-0.4 ms per single-row statement (docs/benchmarks.md).
- SQLite: FTS5 tokenises the task into search_vocabulary_scratch, a contentless FTS5 table with tasks_fts's
  tokenizer that holds only the row being written ('delete-all' first), and the trigger reads the tokens
  back through fts5vocab tables over it: about 0.05-0.15 ms per task written. Readers never write it (they
  take no write lock); migration 0005's users_delete_tasks now deletes the user's vocabulary before their
  tasks, so the tasks' triggers find nothing to count down.

Filled here from the index as it stands: tsvector_to_array(search) on PostgreSQL, tasks_fts_vocab (whose
FTS5 rowids hold the owner, migration 0005) on SQLite.
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TOKENIZE = "tokenize='unicode61 remove_diacritics 2'"  # as tasks_fts (migrations 0001 and 0005)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _sqlite_upgrade()
    elif dialect == "postgresql":
        _pg_upgrade()


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _sqlite_downgrade()
    elif dialect == "postgresql":
        _pg_downgrade()


# ------------------------------------------------------------------------------------------------ SQLite

# The scratch table's tokens: one row per distinct word ('row'), or per word and scratch rowid ('instance').
_WORDS = "SELECT term FROM search_vocabulary_scratch_rows"
_LOAD = (
    "INSERT INTO search_vocabulary_scratch(search_vocabulary_scratch) VALUES ('delete-all'); "
    "INSERT INTO search_vocabulary_scratch(rowid, title, description) VALUES {rows}; "
)


def _count_up(user: str, words: str) -> str:
    return (
        f"INSERT INTO search_vocabulary (user_id, word, tasks) SELECT {user}, term, 1 FROM ({words}) "
        "WHERE true "
        "ON CONFLICT (user_id, word) DO UPDATE SET tasks = tasks + 1; "
    )


def _count_down(user: str, words: str) -> str:
    return (
        f"UPDATE search_vocabulary SET tasks = tasks - 1 WHERE user_id = {user} AND word IN ({words}); "
        f"DELETE FROM search_vocabulary WHERE user_id = {user} AND tasks <= 0 AND word IN ({words}); "
    )


def _sqlite_upgrade() -> None:
    op.execute(
        "CREATE TABLE search_vocabulary (user_id VARCHAR(36) NOT NULL, word TEXT NOT NULL, "
        "tasks INTEGER NOT NULL, CONSTRAINT pk_search_vocabulary PRIMARY KEY (user_id, word), "
        "CONSTRAINT fk_search_vocabulary_user_id_users FOREIGN KEY (user_id) REFERENCES users (id) "
        "ON DELETE CASCADE) WITHOUT ROWID"
    )
    op.execute(
        "CREATE VIRTUAL TABLE search_vocabulary_scratch USING fts5(title, description, content='', "
        f"detail='none', columnsize=0, {_TOKENIZE})"
    )
    op.execute(
        "CREATE VIRTUAL TABLE search_vocabulary_scratch_rows "
        "USING fts5vocab(search_vocabulary_scratch, 'row')"
    )
    op.execute(
        "CREATE VIRTUAL TABLE search_vocabulary_scratch_docs "
        "USING fts5vocab(search_vocabulary_scratch, 'instance')"
    )
    new, old = "(2, new.title, new.description)", "(1, old.title, old.description)"
    op.execute(
        "CREATE TRIGGER tasks_vocabulary_insert AFTER INSERT ON tasks BEGIN "
        f"{_LOAD.format(rows=new)}{_count_up('new.user_id', _WORDS)}END"
    )
    # Nothing to count down when the user has no words: their vocabulary went first (users_delete_tasks).
    op.execute(
        "CREATE TRIGGER tasks_vocabulary_delete AFTER DELETE ON tasks "
        "WHEN EXISTS (SELECT 1 FROM search_vocabulary WHERE user_id = old.user_id) BEGIN "
        f"{_LOAD.format(rows=old)}{_count_down('old.user_id', _WORDS)}END"
    )
    # Old text as scratch rowid 1, new as 2: only the words that came or went are counted (all of them when
    # the task changed owner).
    moved = "old.user_id IS NOT new.user_id"
    docs = "SELECT term FROM search_vocabulary_scratch_docs GROUP BY term HAVING"
    gone = f"{docs} min(doc) = 1 AND (max(doc) = 1 OR {moved})"
    came = f"{docs} max(doc) = 2 AND (min(doc) = 2 OR {moved})"
    op.execute(
        "CREATE TRIGGER tasks_vocabulary_update AFTER UPDATE OF title, description, user_id ON tasks BEGIN "
        f"{_LOAD.format(rows=old + ', ' + new)}{_count_down('old.user_id', gone)}"
        f"{_count_up('new.user_id', came)}END"
    )
    _users_delete_tasks(vocabulary_first=True)
    op.execute(
        "INSERT INTO search_vocabulary (user_id, word, tasks) "
        "SELECT u.id, w.term, w.tasks FROM (SELECT doc >> 32 AS owner, term, count(DISTINCT doc) AS tasks "
        "FROM tasks_fts_vocab GROUP BY term, owner) AS w JOIN users AS u ON u.rowid = w.owner"
    )
    op.execute("DROP TABLE tasks_fts_vocab")
    op.execute("ANALYZE search_vocabulary")


def _users_delete_tasks(*, vocabulary_first: bool) -> None:
    """Migration 0005's trigger deleting a user's tasks before the user (their FTS5 keys need the user)."""
    op.execute("DROP TRIGGER IF EXISTS users_delete_tasks")
    first = "DELETE FROM search_vocabulary WHERE user_id = old.id; " if vocabulary_first else ""
    op.execute(
        f"CREATE TRIGGER users_delete_tasks BEFORE DELETE ON users BEGIN {first}"
        "DELETE FROM tasks WHERE user_id = old.id; END"
    )


def _sqlite_downgrade() -> None:
    for trigger in ("tasks_vocabulary_insert", "tasks_vocabulary_delete", "tasks_vocabulary_update"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    _users_delete_tasks(vocabulary_first=False)
    for table in (
        "search_vocabulary_scratch_docs",
        "search_vocabulary_scratch_rows",
        "search_vocabulary_scratch",
        "search_vocabulary",
    ):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    op.execute("CREATE VIRTUAL TABLE tasks_fts_vocab USING fts5vocab(tasks_fts, 'instance')")


# -------------------------------------------------------------------------------------------- PostgreSQL

# Row locks are taken in (user_id, word) order, so two transactions counting the same words wait for each
# other instead of deadlocking.
_PG_FUNCTIONS = {
    "search_vocabulary_inserted": """
        INSERT INTO search_vocabulary AS v (user_id, word, tasks)
        SELECT t.user_id, w.word, count(*) FROM new_tasks AS t, unnest(tsvector_to_array(t.search)) AS w(word)
        GROUP BY t.user_id, w.word ORDER BY t.user_id, w.word COLLATE "C"
        ON CONFLICT (user_id, word) DO UPDATE SET tasks = v.tasks + excluded.tasks;""",
    "search_vocabulary_truncated": "DELETE FROM search_vocabulary;",
}

# A delete counts the task's words down; the tasks of a deleted user (gone from users by the time the
# cascade deletes them) are skipped: their vocabulary goes by its own cascade.
_PG_DELETED = """
CREATE FUNCTION search_vocabulary_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    gone text[] := tsvector_to_array(OLD.search);
BEGIN
    IF cardinality(gone) > 0 AND EXISTS (SELECT 1 FROM users WHERE id = OLD.user_id) THEN
        PERFORM 1 FROM search_vocabulary WHERE user_id = OLD.user_id AND word = ANY (gone)
        ORDER BY word FOR UPDATE;
        UPDATE search_vocabulary SET tasks = tasks - 1 WHERE user_id = OLD.user_id AND word = ANY (gone);
        DELETE FROM search_vocabulary WHERE user_id = OLD.user_id AND word = ANY (gone) AND tasks <= 0;
    END IF;
    RETURN NULL;
END $$"""

# An edit: the words that went from the old owner's count, the words that came to the new owner's.
_PG_EDITED = """
CREATE FUNCTION search_vocabulary_edited() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    gone text[] := tsvector_to_array(OLD.search);
    came text[] := tsvector_to_array(NEW.search);
BEGIN
    IF OLD.user_id = NEW.user_id THEN
        SELECT array_agg(o.word) FILTER (WHERE n.word IS NULL),
               array_agg(n.word) FILTER (WHERE o.word IS NULL) INTO gone, came
        FROM unnest(gone) AS o(word) FULL JOIN unnest(came) AS n(word) ON o.word = n.word;
    END IF;
    IF cardinality(gone) > 0 THEN  -- an edit that only adds words takes its locks in order below
        PERFORM 1 FROM search_vocabulary
        WHERE (user_id = OLD.user_id AND word = ANY (gone)) OR (user_id = NEW.user_id AND word = ANY (came))
        ORDER BY user_id, word FOR UPDATE;
        UPDATE search_vocabulary SET tasks = tasks - 1 WHERE user_id = OLD.user_id AND word = ANY (gone);
        DELETE FROM search_vocabulary WHERE user_id = OLD.user_id AND word = ANY (gone) AND tasks <= 0;
    END IF;
    IF cardinality(came) > 0 THEN
        INSERT INTO search_vocabulary AS v (user_id, word, tasks)
        SELECT NEW.user_id, w.word, 1 FROM unnest(came) AS w(word) ORDER BY w.word COLLATE "C"
        ON CONFLICT (user_id, word) DO UPDATE SET tasks = v.tasks + 1;
    END IF;
    RETURN NULL;
END $$"""


def _pg_upgrade() -> None:
    op.execute(
        'CREATE TABLE search_vocabulary (user_id VARCHAR(36) NOT NULL, word TEXT COLLATE "C" NOT NULL, '
        "tasks INTEGER NOT NULL, CONSTRAINT pk_search_vocabulary PRIMARY KEY (user_id, word), "
        "CONSTRAINT fk_search_vocabulary_user_id_users FOREIGN KEY (user_id) REFERENCES users (id) "
        "ON DELETE CASCADE)"
    )
    for name, body in _PG_FUNCTIONS.items():
        op.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} "
            "RETURN NULL; END $$"
        )
    op.execute(_PG_DELETED)
    op.execute(_PG_EDITED)
    # Inserts once per statement, the rows as a transition table; CREATE TRIGGER also holds writers off until
    # the migration commits, so the fill below misses no task.
    op.execute(
        "CREATE TRIGGER tasks_vocabulary_insert AFTER INSERT ON tasks REFERENCING NEW TABLE AS new_tasks "
        "FOR EACH STATEMENT EXECUTE FUNCTION search_vocabulary_inserted()"
    )
    op.execute(
        "CREATE TRIGGER tasks_vocabulary_delete AFTER DELETE ON tasks "
        "FOR EACH ROW EXECUTE FUNCTION search_vocabulary_deleted()"
    )
    op.execute(  # TRUNCATE runs no row trigger
        "CREATE TRIGGER tasks_vocabulary_truncate AFTER TRUNCATE ON tasks "
        "FOR EACH STATEMENT EXECUTE FUNCTION search_vocabulary_truncated()"
    )
    # Per row: transition tables cannot go with a column list, and completing a task must not fire it.
    op.execute(
        "CREATE TRIGGER tasks_vocabulary_update AFTER UPDATE OF title, description, user_id ON tasks "
        "FOR EACH ROW WHEN (OLD.search IS DISTINCT FROM NEW.search "
        "OR OLD.user_id IS DISTINCT FROM NEW.user_id) "
        "EXECUTE FUNCTION search_vocabulary_edited()"
    )
    op.execute(
        "INSERT INTO search_vocabulary (user_id, word, tasks) SELECT t.user_id, w.word, count(*) "
        "FROM tasks AS t, unnest(tsvector_to_array(t.search)) AS w(word) GROUP BY t.user_id, w.word"
    )
    op.execute("DROP TRIGGER IF EXISTS tasks_search_words_update ON tasks")
    op.execute("DROP TRIGGER IF EXISTS tasks_search_words_insert ON tasks")
    op.execute("DROP FUNCTION IF EXISTS search_words_edited()")
    op.execute("DROP FUNCTION IF EXISTS search_words_inserted()")
    op.execute("DROP TABLE IF EXISTS search_words")
    op.execute("ANALYZE search_vocabulary")


def _pg_downgrade() -> None:
    for trigger in ("insert", "delete", "truncate", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS tasks_vocabulary_{trigger} ON tasks")
    for name in (*_PG_FUNCTIONS, "search_vocabulary_deleted", "search_vocabulary_edited"):
        op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.execute("DROP TABLE IF EXISTS search_vocabulary")
    # search_words as migration 0003 made it.
    op.execute(
        'CREATE TABLE search_words (word text COLLATE "C", CONSTRAINT pk_search_words PRIMARY KEY (word))'
    )
    op.execute(
        "CREATE FUNCTION search_words_inserted() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO search_words (word) SELECT DISTINCT unnest(tsvector_to_array(search)) FROM new_tasks "
        "ON CONFLICT DO NOTHING; RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER tasks_search_words_insert AFTER INSERT ON tasks REFERENCING NEW TABLE AS new_tasks "
        "FOR EACH STATEMENT EXECUTE FUNCTION search_words_inserted()"
    )
    op.execute(
        "CREATE FUNCTION search_words_edited() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO search_words (word) SELECT unnest(tsvector_to_array(NEW.search)) "
        "ON CONFLICT DO NOTHING; RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER tasks_search_words_update AFTER UPDATE OF title, description ON tasks "
        "FOR EACH ROW EXECUTE FUNCTION search_words_edited()"
    )
    op.execute(
        "INSERT INTO search_words (word) SELECT DISTINCT unnest(tsvector_to_array(search)) FROM tasks "
        "ON CONFLICT DO NOTHING"
    )

"""PostgreSQL search: one GIN index over (user_id, search), and a word list for prefix expansion

Revision ID: 0003
Revises: 0002

Every search is one user's. With the btree_gin extension, ix_tasks_user_search holds the user id beside
the words, so a search reads only the caller's postings (the GIN index over search alone intersected the
matches of every user with a bitmap of the caller's tasks). Without the extension (not allowed on this
server), the index over search alone stays and searches still work.

search_words lists every word (lexeme) ever indexed, kept by triggers on tasks. A prefix (`inv:*`) makes GIN
collect and merge the postings of each word it covers; a search expands a prefix to the few whole words it
stands for instead (TaskRepository._pg_query). Words of deleted or edited tasks stay: they match nothing.
Nothing here on SQLite (its FTS5 index has both already: rowid order and tasks_fts_vocab).
"""

from __future__ import annotations

import structlog
from alembic import op
from sqlalchemy.exc import DBAPIError

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

log = structlog.get_logger(__name__)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    try:
        with bind.begin_nested():
            op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    except DBAPIError as exc:
        log.warning("btree_gin unavailable: search keeps the GIN index over words alone", error=str(exc))
    else:
        op.execute("CREATE INDEX ix_tasks_user_search ON tasks USING gin (user_id, search)")
        op.execute("DROP INDEX ix_tasks_search")
    op.execute(
        'CREATE TABLE search_words (word text COLLATE "C", CONSTRAINT pk_search_words PRIMARY KEY (word))'
    )
    # Inserts: once per statement, so a group commit's multi-row INSERT (or a COPY) adds its words in one go.
    op.execute(
        "CREATE FUNCTION search_words_inserted() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO search_words (word) SELECT DISTINCT unnest(tsvector_to_array(search)) FROM new_tasks "
        "ON CONFLICT DO NOTHING; RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER tasks_search_words_insert AFTER INSERT ON tasks REFERENCING NEW TABLE AS new_tasks "
        "FOR EACH STATEMENT EXECUTE FUNCTION search_words_inserted()"
    )
    # Edits: only rows whose title or description was written (completing a task adds nothing).
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
    op.execute("ANALYZE tasks")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS tasks_search_words_update ON tasks")
    op.execute("DROP TRIGGER IF EXISTS tasks_search_words_insert ON tasks")
    op.execute("DROP FUNCTION IF EXISTS search_words_edited()")
    op.execute("DROP FUNCTION IF EXISTS search_words_inserted()")
    op.execute("DROP TABLE IF EXISTS search_words")
    op.execute("CREATE INDEX IF NOT EXISTS ix_tasks_search ON tasks USING gin (search)")
    op.execute("DROP INDEX IF EXISTS ix_tasks_user_search")

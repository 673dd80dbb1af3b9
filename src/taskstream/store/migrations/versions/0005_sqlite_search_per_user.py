"""SQLite search: each user's postings in one FTS5 rowid range

Revision ID: 0005
Revises: 0004

Every search is one user's, but FTS5 keeps one index for all users: a search decoded every user's matches
and looked each of them up in tasks. Now the FTS5 rowid of a task is its owner's users.rowid in the high 32
bits and the task's rowid in the low 32 (tasks_fts_source), so one user's postings form one rowid range and
a search reads only that range (TaskRepository._fts_plan). Benchmark 3 at 1M tasks, the big user's
two-term statement: 6.6 ms before, 0.5 ms after (same data).

tasks_fts takes its text from the view tasks_fts_source (external content); triggers keep it in step with
tasks, and tasks are deleted before their owner so the index entry can still be found. A rebuild
(`INSERT INTO tasks_fts(tasks_fts) VALUES ('rebuild')`) recomputes the index from the view. Nothing here on
PostgreSQL (migration 0003 did the same with a GIN index over (user_id, search)).
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The FTS5 rowid of a task row (`new` or `old` in a trigger): owner's users.rowid << 32 | task rowid.
_KEY = "((SELECT rowid FROM users WHERE id = {row}.user_id) << 32) | {row}.rowid"


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _drop_search()
    # Tasks in rowid order, each owner found by primary key: a rebuild reads tasks from start to end.
    op.execute(
        f"CREATE VIEW tasks_fts_source AS SELECT {_KEY.format(row='t')} AS fts_rowid, "
        "t.title AS title, t.description AS description FROM tasks AS t"
    )
    op.execute(
        "CREATE VIRTUAL TABLE tasks_fts USING fts5(title, description, content='tasks_fts_source', "
        "content_rowid='fts_rowid', tokenize='unicode61 remove_diacritics 2')"
    )
    new, old = _KEY.format(row="new"), _KEY.format(row="old")
    op.execute(
        "CREATE TRIGGER tasks_fts_insert AFTER INSERT ON tasks BEGIN "
        f"INSERT INTO tasks_fts(rowid, title, description) VALUES ({new}, new.title, new.description); END"
    )
    op.execute(
        "CREATE TRIGGER tasks_fts_delete AFTER DELETE ON tasks BEGIN "
        "INSERT INTO tasks_fts(tasks_fts, rowid, title, description) "
        f"VALUES ('delete', {old}, old.title, old.description); END"
    )
    op.execute(
        "CREATE TRIGGER tasks_fts_update AFTER UPDATE OF title, description, user_id ON tasks BEGIN "
        "INSERT INTO tasks_fts(tasks_fts, rowid, title, description) "
        f"VALUES ('delete', {old}, old.title, old.description); "
        f"INSERT INTO tasks_fts(rowid, title, description) VALUES ({new}, new.title, new.description); END"
    )
    # The foreign key's cascade would delete the tasks after their owner, when the key can no longer be read.
    op.execute(
        "CREATE TRIGGER users_delete_tasks BEFORE DELETE ON users BEGIN "
        "DELETE FROM tasks WHERE user_id = old.id; END"
    )
    op.execute("CREATE VIRTUAL TABLE tasks_fts_vocab USING fts5vocab(tasks_fts, 'instance')")
    op.execute("INSERT INTO tasks_fts(tasks_fts) VALUES ('rebuild')")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _drop_search()
    op.execute("DROP TRIGGER IF EXISTS users_delete_tasks")
    op.execute("DROP VIEW IF EXISTS tasks_fts_source")
    # As migrations 0001 and 0002 made them: FTS5 rowid = task rowid.
    op.execute(
        "CREATE VIRTUAL TABLE tasks_fts USING fts5(title, description, content='tasks', "
        "content_rowid='rowid', tokenize='unicode61 remove_diacritics 2')"
    )
    op.execute(
        "CREATE TRIGGER tasks_fts_insert AFTER INSERT ON tasks BEGIN "
        "INSERT INTO tasks_fts(rowid, title, description) VALUES (new.rowid, new.title, new.description); END"
    )
    op.execute(
        "CREATE TRIGGER tasks_fts_delete AFTER DELETE ON tasks BEGIN "
        "INSERT INTO tasks_fts(tasks_fts, rowid, title, description) "
        "VALUES ('delete', old.rowid, old.title, old.description); END"
    )
    op.execute(
        "CREATE TRIGGER tasks_fts_update AFTER UPDATE OF title, description ON tasks BEGIN "
        "INSERT INTO tasks_fts(tasks_fts, rowid, title, description) "
        "VALUES ('delete', old.rowid, old.title, old.description); "
        "INSERT INTO tasks_fts(rowid, title, description) VALUES (new.rowid, new.title, new.description); END"
    )
    op.execute("CREATE VIRTUAL TABLE tasks_fts_vocab USING fts5vocab(tasks_fts, 'instance')")
    op.execute("INSERT INTO tasks_fts(tasks_fts) VALUES ('rebuild')")


def _drop_search() -> None:
    for trigger in ("tasks_fts_insert", "tasks_fts_delete", "tasks_fts_update"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS tasks_fts_vocab")
    op.execute("DROP TABLE IF EXISTS tasks_fts")

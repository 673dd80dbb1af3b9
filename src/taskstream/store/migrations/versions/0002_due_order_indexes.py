"""due-ordered index for lists and searches; FTS5 vocabulary table on SQLite

Revision ID: 0002
Revises: 0001

ix_tasks_user_due_sort lets a list or search sorted by due walk one user's tasks in order and stop after a
page, instead of collecting and sorting every match (TaskRepository._find_by_due). On SQLite,
tasks_fts_vocab (fts5vocab, 'instance') lists the indexed words, so a search prefix can be expanded to whole
words and probed task by task (TaskRepository._fts_plan). It reads tasks_fts and stores nothing.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index("ix_tasks_user_due_sort", ["user_id", "due_sort", "id"], unique=False)
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("CREATE VIRTUAL TABLE tasks_fts_vocab USING fts5vocab(tasks_fts, 'instance')")
        op.execute("ANALYZE tasks")
    elif dialect == "postgresql":
        op.execute("ANALYZE tasks")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS tasks_fts_vocab")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_user_due_sort")

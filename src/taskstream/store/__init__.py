"""Persistence: SQLAlchemy tables, repositories, the unit of work, outbox and inbox, Alembic migrations."""

"""SQL of the accounts feature: users and their sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from taskstream.store.tables import Session, User


class UserRepository:
    """Accounts by id or e-mail, and their sessions."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: User | Session) -> None:
        """Stage a new user or session."""
        self.session.add(row)

    async def get(self, user_id: str) -> User | None:
        """The user with this id, or None."""
        return await self.session.get(User, user_id)

    async def by_email(self, email: str) -> User | None:
        """The user with this (lower-cased) e-mail, or None."""
        return await self.session.scalar(select(User).where(User.email == email.lower()))

    async def signed_in(self, user_id: str, session_id: str, *, now: datetime) -> User | None:
        """The user when `session_id` is one of their sessions, not revoked and not expired at `now`."""
        return await self.session.scalar(
            select(User)
            .join(Session, Session.user_id == User.id)
            .where(
                User.id == user_id,
                Session.id == session_id,
                Session.revoked_at.is_(None),
                Session.expires_at > now,
            )
        )

    async def session_of(self, session_id: str) -> Session | None:
        """The session with this id (revoked or not), or None."""
        return await self.session.get(Session, session_id)

    async def revoke(
        self, user_id: str, *, now: datetime, reason: str, only: str | None = None, keep: str | None = None
    ) -> list[str]:
        """Revoke the user's open sessions (just `only`, or all but `keep`); the ids revoked."""
        condition = [Session.user_id == user_id, Session.revoked_at.is_(None)]
        if only is not None:
            condition.append(Session.id == only)
        if keep is not None:
            condition.append(Session.id != keep)
        ids = list(await self.session.scalars(select(Session.id).where(*condition)))
        if ids:
            await self.session.execute(
                update(Session).where(Session.id.in_(ids)).values(revoked_at=now, revoked_reason=reason)
            )
        return ids

    async def prune_sessions(self, user_id: str, *, now: datetime) -> None:
        """Delete the user's sessions that expired (revoked ones are kept until they expire: a reused
        refresh token of a revoked session is still recognised)."""
        await self.session.execute(
            delete(Session).where(Session.user_id == user_id, Session.expires_at <= now)
        )

    async def delete(self, user: User) -> None:
        """Delete the account; its tasks, tags, reminders and sessions go with it (foreign keys cascade)."""
        await self.session.delete(user)

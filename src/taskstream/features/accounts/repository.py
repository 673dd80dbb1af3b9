"""SQL of the accounts feature."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taskstream.store.tables import User


class UserRepository:
    """Accounts by id or e-mail."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, user: User) -> None:
        """Stage a new user."""
        self.session.add(user)

    async def get(self, user_id: str) -> User | None:
        """The user with this id, or None."""
        return await self.session.get(User, user_id)

    async def by_email(self, email: str) -> User | None:
        """The user with this (lower-cased) e-mail, or None."""
        return await self.session.scalar(select(User).where(User.email == email.lower()))

"""Account use cases: sign up and sign in."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError

from taskstream.domain.clock import Clock
from taskstream.domain.errors import Conflict, Unauthorized
from taskstream.domain.tasks import zone
from taskstream.features.accounts.passwords import Passwords
from taskstream.store.tables import User
from taskstream.store.uow import UnitOfWorkFactory


class AccountService:
    """Sign-up and sign-in; the caller issues the token."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, passwords: Passwords) -> None:
        self._uow = uow
        self._clock = clock
        self._passwords = passwords

    async def register(self, email: str, password: str, *, name: str | None, timezone: str | None) -> User:
        """A new account; Conflict(field="email") when the e-mail is taken, ValidationError for the zone."""
        tz = timezone or "UTC"
        zone(tz)
        user = User(
            id=str(uuid.uuid4()),
            email=email.lower(),
            name=name,
            password_hash=await self._passwords.hash_off_loop(password),
            timezone=tz,
            created_at=self._clock.now(),
        )
        async with self._uow() as uow:
            if await uow.users.by_email(user.email):
                raise Conflict("this e-mail is already registered", field="email")
            uow.users.add(user)
            try:
                await uow.commit()
            except IntegrityError:
                raise Conflict("this e-mail is already registered", field="email") from None
        return user

    async def sign_in(self, email: str, password: str) -> User:
        """The account of `email` when `password` is right; Unauthorized(field="password") otherwise."""
        async with self._uow.reader() as uow:
            user = await uow.users.by_email(email)
        hashed = user.password_hash if user is not None else None
        if not await self._passwords.verify_off_loop(hashed, password) or user is None:
            raise Unauthorized("wrong e-mail or password", field="password")
        return user

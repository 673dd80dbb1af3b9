"""Account use cases: sign up, sign in, refresh, sign out, change password, delete the account.

Sessions: each sign-in opens one (a row of the sessions table) with a refresh token; access tokens name it.
Revoking sessions and deleting an account append CloudEvents in the same transaction, so the realtime
service closes the sockets concerned and every other service forgets a deleted user.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from taskstream.domain.clock import Clock
from taskstream.domain.errors import Conflict, TooManyRequests, Unauthorized, ValidationError
from taskstream.domain.tasks import check_text, normalise, zone
from taskstream.events import topics
from taskstream.events.envelope import make_event
from taskstream.events.payloads import (
    ACCOUNT_DELETED,
    SESSIONS_REVOKED,
    AccountDeletedData,
    SessionsRevokedData,
)
from taskstream.features.accounts.passwords import Passwords
from taskstream.features.accounts.policy import check_password
from taskstream.features.accounts.throttle import Limit
from taskstream.features.accounts.tokens import RefreshToken
from taskstream.store.tables import Session, User
from taskstream.store.uow import UnitOfWork, UnitOfWorkFactory

if TYPE_CHECKING:
    from taskstream.settings import Settings

TOO_MANY = "too many attempts; wait before trying again"


@dataclass(frozen=True)
class AuthLimits:
    """Attempts allowed per window: failed sign-ins per account and per client address, sign-ups per
    address; refresh_ttl: how long a session lives without being refreshed."""

    window: timedelta = timedelta(minutes=15)
    failures_per_account: int = 10
    failures_per_address: int = 100
    signups_per_address: int = 10
    refresh_ttl: timedelta = timedelta(days=30)

    @classmethod
    def of(cls, settings: Settings) -> AuthLimits:
        """The limits the settings give (TASKSTREAM_AUTH_*, TASKSTREAM_REFRESH_TTL_S)."""
        return cls(
            window=timedelta(seconds=settings.auth_window_s),
            failures_per_account=settings.auth_failures_per_account,
            failures_per_address=settings.auth_failures_per_address,
            signups_per_address=settings.auth_signups_per_address,
            refresh_ttl=timedelta(seconds=settings.refresh_ttl_s),
        )


@dataclass(frozen=True)
class SignedIn:
    """A session just opened or refreshed: its user, id and the refresh token to hand out (once)."""

    user: User
    session_id: str
    refresh_token: str


class AccountService:
    """Accounts and their sessions; the caller issues access tokens for the sessions returned."""

    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, passwords: Passwords, limits: AuthLimits | None = None
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._passwords = passwords
        self._limits = limits or AuthLimits()
        # Told (user id, session ids or None for all) after a commit that ended sessions or changed the
        # user's settings: the api drops the callers it cached for them.
        self.on_sign_out: Callable[[str, list[str] | None], None] = lambda _user, _sessions: None

    def _limit(self, count: int) -> Limit:
        return Limit(count, self._limits.window)

    async def register(
        self,
        email: str,
        password: str,
        *,
        name: str | None,
        timezone: str | None,
        address: str,
        date_order: str | None = None,
    ) -> User:
        """A new account. Conflict(field="email") when the e-mail is taken; ValidationError for the zone or a
        weak password; TooManyRequests after signups_per_address sign-ups from `address` in a window."""
        tz = timezone or "UTC"
        zone(tz)
        name = _clean_name(name)
        now = self._clock.now()
        per_address = {f"register:address:{address}": self._limit(self._limits.signups_per_address)}
        await self._take(per_address, now=now)
        check_password(password, field="password", context=[email, email.partition("@")[0], name or ""])
        user = User(
            id=str(uuid.uuid4()),
            email=email.lower(),
            name=name,
            password_hash=await self._passwords.hash_off_loop(password),
            timezone=tz,
            created_at=now,
            date_order=date_order,
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

    async def update_profile(self, user: User, changes: dict[str, Any]) -> User:
        """Change the user's name, timezone, date_order or all_day_reminder_time (the keys given);
        ValidationError names a bad one (a zone that is not IANA's, a null setting)."""
        for key in ("timezone", "date_order", "all_day_reminder_time"):
            if key in changes and changes[key] is None:
                raise ValidationError(f"{key} cannot be null", field=key)
        if "timezone" in changes:
            zone(changes["timezone"])
        reminder_time = changes.get("all_day_reminder_time")
        if reminder_time is not None and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", reminder_time):
            raise ValidationError(
                "all_day_reminder_time must be a time of day as HH:MM, e.g. 09:00",
                field="all_day_reminder_time",
            )
        if "name" in changes:
            changes["name"] = _clean_name(changes["name"])
        async with self._uow() as uow:
            row = await uow.users.get(user.id)
            if row is None:
                raise Unauthorized("the token's user no longer exists")
            for key, value in changes.items():
                setattr(row, key, value)
            await uow.commit()
        self.on_sign_out(user.id, None)  # drops every cached caller of the user: they hold the old settings
        return row

    async def _verify(self, email: str, password: str, *, address: str, field: str) -> User:
        """The account of `email` when `password` is right; Unauthorized(field) otherwise.

        Each attempt counts against the account and the address before any hashing (TooManyRequests when
        either is over its limit); a right password takes its attempt back and clears the account's.
        """
        now = self._clock.now()
        account, per_address = f"signin:account:{email.lower()}", f"signin:address:{address}"
        await self._take(
            {
                account: self._limit(self._limits.failures_per_account),
                per_address: self._limit(self._limits.failures_per_address),
            },
            now=now,
        )
        async with self._uow.reader() as uow:
            user = await uow.users.by_email(email)  # as stored now (a cached caller may be older)
        hashed = user.password_hash if user is not None else None
        if not await self._passwords.verify_off_loop(hashed, password) or user is None:
            raise Unauthorized("Wrong e-mail or password", field=field)
        async with self._uow() as uow:
            await uow.throttle.forget([account])
            await uow.throttle.give_back([per_address])
            await uow.commit()
        return user

    async def _take(self, limits: dict[str, Limit], *, now: datetime) -> None:
        """Count an attempt against `limits` (its own transaction); TooManyRequests when over one."""
        async with self._uow() as uow:
            wait = await uow.throttle.take(limits, now=now)
            await uow.commit()
        if wait is not None:
            raise TooManyRequests(TOO_MANY, retry_after_s=wait)

    async def sign_in(self, email: str, password: str, *, address: str) -> SignedIn:
        """Open a session for the account of `email`; see _verify for the errors."""
        user = await self._verify(email, password, address=address, field="password")
        now = self._clock.now()
        token = RefreshToken.new(str(uuid.uuid4()))
        async with self._uow() as uow:
            await uow.users.prune_sessions(user.id, now=now)
            uow.users.add(
                Session(
                    id=token.session_id,
                    user_id=user.id,
                    refresh_hash=token.digest,
                    created_at=now,
                    refreshed_at=now,
                    expires_at=now + self._limits.refresh_ttl,
                )
            )
            await uow.commit()
        return SignedIn(user, token.session_id, str(token))

    async def refresh(self, refresh_token: str) -> SignedIn:
        """Rotate a session's refresh token: the new one replaces it and the old one stops working.

        Unauthorized(field="refresh_token") for an unknown, expired or revoked session. A token that was
        already rotated away (a copy being reused: stolen, or replayed) revokes the whole session.
        """
        presented = RefreshToken.parse(refresh_token)
        now = self._clock.now()
        async with self._uow() as uow:
            session = await uow.users.session_of(presented.session_id)
            if session is None or session.revoked_at is not None or session.expires_at <= now:
                raise Unauthorized("this session has ended; sign in again", field="refresh_token")
            if not presented.matches(session.refresh_hash):
                await self._revoke(uow, session.user_id, now=now, reason="reuse", only=session.id)
                await uow.commit()
                self.on_sign_out(session.user_id, [session.id])
                raise Unauthorized(
                    "this refresh token was already used; the session was signed out", field="refresh_token"
                )
            user = await uow.users.get(session.user_id)
            if user is None:
                raise Unauthorized("this session has ended; sign in again", field="refresh_token")
            token = RefreshToken.new(session.id)
            session.refresh_hash = token.digest
            session.refreshed_at = now
            session.expires_at = now + self._limits.refresh_ttl
            await uow.commit()
        return SignedIn(user, session.id, str(token))

    async def sign_out(self, user: User, session_id: str, *, everywhere: bool) -> list[str]:
        """Revoke this session, or every session of the user; the ids revoked."""
        now = self._clock.now()
        async with self._uow() as uow:
            revoked = await self._revoke(
                uow,
                user.id,
                now=now,
                reason="everywhere" if everywhere else "logout",
                only=None if everywhere else session_id,
            )
            await uow.commit()
        self.on_sign_out(user.id, revoked)
        return revoked

    async def change_password(
        self, user: User, session_id: str, current: str, new: str, *, address: str
    ) -> list[str]:
        """Set a new password after checking the current one (a failure counts as a failed sign-in) and the
        policy; every other session is revoked. Returns the ids revoked."""
        await self._verify(user.email, current, address=address, field="current_password")
        check_password(new, field="new_password", context=[user.email, user.name or "", current])
        hashed = await self._passwords.hash_off_loop(new)
        now = self._clock.now()
        async with self._uow() as uow:
            row = await uow.users.get(user.id)
            if row is None:
                raise Unauthorized("the token's user no longer exists")
            row.password_hash = hashed
            revoked = await self._revoke(uow, user.id, now=now, reason="password", keep=session_id)
            await uow.commit()
        self.on_sign_out(user.id, revoked)
        return revoked

    async def delete(self, user: User, password: str, *, address: str) -> None:
        """Delete the account and everything in it, after checking the password. The api's rows go in this
        transaction; account.deleted tells the audit, notification and realtime services to forget it."""
        await self._verify(user.email, password, address=address, field="password")
        now = self._clock.now()
        async with self._uow() as uow:
            row = await uow.users.get(user.id)
            if row is None:
                raise Unauthorized("the token's user no longer exists")
            await uow.users.delete(row)
            data = AccountDeletedData(user_id=user.id, timestamp=now)
            event = make_event(
                ACCOUNT_DELETED,
                subject=user.id,
                partitionkey=user.id,
                data=data.model_dump(mode="json"),
                time=now,
            )
            uow.outbox.append(event, topics.TASK_EVENTS, topics.REMINDERS, topics.TASK_UPDATES)
            await uow.commit()
        self.on_sign_out(user.id, None)

    @staticmethod
    async def _revoke(
        uow: UnitOfWork,
        user_id: str,
        *,
        now: datetime,
        reason: str,
        only: str | None = None,
        keep: str | None = None,
    ) -> list[str]:
        """Revoke sessions (see UserRepository.revoke); the realtime service closes their sockets."""
        revoked = await uow.users.revoke(user_id, now=now, reason=reason, only=only, keep=keep)
        if revoked:
            data = SessionsRevokedData(user_id=user_id, sessions=revoked, reason=reason, timestamp=now)
            event = make_event(
                SESSIONS_REVOKED,
                subject=user_id,
                partitionkey=user_id,
                data=data.model_dump(mode="json"),
                time=now,
            )
            uow.outbox.append(event, topics.TASK_UPDATES)
        return revoked


def _clean_name(name: str | None) -> str | None:
    """A display name without surrounding blanks (None when blank); ValidationError for unsafe text."""
    if name is None:
        return None
    name = normalise(name.strip()) or None
    if name is not None:
        check_text(name, field="name")
    return name

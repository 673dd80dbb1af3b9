"""FastAPI dependencies as Annotated aliases: the service context and the calling user."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Annotated

from cachetools import TTLCache
from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from taskstream.domain.clock import Clock
from taskstream.domain.errors import Unauthorized
from taskstream.features.accounts.service import AccountService
from taskstream.features.accounts.tokens import Tokens
from taskstream.features.audit.service import AuditService
from taskstream.features.notifications.service import NotificationService
from taskstream.features.realtime.hub import Hub
from taskstream.features.tasks.service import TaskService
from taskstream.settings import Settings
from taskstream.store.tables import User
from taskstream.store.uow import UnitOfWorkFactory

CALLER_CACHE_S = 10.0


@dataclass(frozen=True)
class Caller:
    """The signed-in user of a request, the session of its token and the token's expiry (UNIX seconds)."""

    user: User
    session_id: str
    expires: int


@dataclass
class ApiContext:
    """What the api's routes need, built once by the composition root."""

    settings: Settings
    uow: UnitOfWorkFactory
    clock: Clock
    tasks: TaskService
    accounts: AccountService
    audit: AuditService
    notifications: NotificationService
    tokens: Tokens
    hub: Hub | None = None  # set when this process serves the WebSocket
    # Bearer token → its caller, so most requests skip the JWT check and the session lookup. An entry lives
    # CALLER_CACHE_S at most; sign-outs purge this process's entries at once (forget) and other
    # processes' when the sessions-revoked event reaches them.
    callers: TTLCache[str, Caller] = field(
        default_factory=lambda: TTLCache(maxsize=10_000, ttl=CALLER_CACHE_S)
    )

    def forget(self, user_id: str, sessions: Iterable[str] | None = None) -> None:
        """Drop cached callers of these sessions of the user (revoked), or of all of them (None: the
        account was deleted)."""
        gone = None if sessions is None else set(sessions)
        for token in list(self.callers):  # .get: an entry may expire meanwhile
            caller = self.callers.get(token)
            if (
                caller is not None
                and caller.user.id == user_id
                and (gone is None or caller.session_id in gone)
            ):
                self.callers.pop(token, None)


async def get_context(request: Request) -> ApiContext:
    """The ApiContext stored on the app (async: a plain `def` dependency would run in a thread pool)."""
    ctx: ApiContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ApiContext, Depends(get_context)]

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def get_caller(ctx: Ctx, token: Annotated[str | None, Depends(oauth2)]) -> Caller:
    """The caller of the bearer token; Unauthorized (401) when absent, invalid, expired, its session was
    signed out or its user is gone."""
    if not token:
        raise Unauthorized("not authenticated: send Authorization: Bearer <token>")
    cached = ctx.callers.get(token)
    if cached is not None and cached.expires > ctx.clock.now().timestamp():
        return cached
    caller = await check_caller(ctx, token)
    ctx.callers[token] = caller
    return caller


async def check_caller(ctx: ApiContext, token: str) -> Caller:
    """The caller of a token whose signature and expiry are valid, whose session is open and whose user
    exists, read now (no cache); Unauthorized otherwise."""
    now = ctx.clock.now()
    claims = ctx.tokens.check(token, now=now)
    async with ctx.uow.reader() as uow:
        user = await uow.users.signed_in(claims.user_id, claims.session_id, now=now)
    if user is None:
        raise Unauthorized("this session has ended; sign in again")
    return Caller(user, claims.session_id, claims.expires)


async def get_current_user(ctx: Ctx, token: Annotated[str | None, Depends(oauth2)]) -> User:
    """The user of the bearer token (see get_caller; called here, not depended on: one dependency less to
    solve on every request)."""
    return (await get_caller(ctx, token)).user


CurrentCaller = Annotated[Caller, Depends(get_caller)]
CurrentUser = Annotated[User, Depends(get_current_user)]

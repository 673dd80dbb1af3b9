"""FastAPI dependencies as Annotated aliases: the service context and the calling user."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from cachetools import TTLCache
from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from taskstream.api.security import Tokens
from taskstream.domain.clock import Clock
from taskstream.domain.errors import Unauthorized
from taskstream.features.accounts.service import AccountService
from taskstream.features.audit.service import AuditService
from taskstream.features.notifications.service import NotificationService
from taskstream.features.realtime.hub import Hub
from taskstream.features.tasks.service import TaskService
from taskstream.settings import Settings
from taskstream.store.tables import User
from taskstream.store.uow import UnitOfWorkFactory


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
    # Bearer token → (expiry, UNIX seconds; the signed-in user). Users are never changed after sign-up, and a
    # token is valid until it expires, so a hit skips the JWT check and the user lookup; entries live 60 s.
    callers: TTLCache[str, tuple[int, User]] = field(
        default_factory=lambda: TTLCache(maxsize=10_000, ttl=60.0)
    )


async def get_context(request: Request) -> ApiContext:
    """The ApiContext stored on the app (async: a plain `def` dependency would run in a thread pool)."""
    ctx: ApiContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ApiContext, Depends(get_context)]

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def get_current_user(ctx: Ctx, token: Annotated[str | None, Depends(oauth2)]) -> User:
    """The user of the bearer token; Unauthorized (401) when absent, invalid or the user is gone."""
    if not token:
        raise Unauthorized("not authenticated: send Authorization: Bearer <token>")
    now = ctx.clock.now()
    cached = ctx.callers.get(token)
    if cached is not None and cached[0] > now.timestamp():
        return cached[1]
    user_id, expires = ctx.tokens.check(token, now=now)
    async with ctx.uow.reader() as uow:
        user = await uow.users.get(user_id)
    if user is None:
        raise Unauthorized("the token's user no longer exists")
    ctx.callers[token] = (expires, user)
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]

"""Registration, tokens and the current user."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy.exc import IntegrityError

from taskstream.api.deps import Ctx, CurrentUser
from taskstream.api.schemas import RegisterIn, TokenOut, UserOut
from taskstream.api.security import hash_password, verify_password
from taskstream.domain.errors import Conflict, Unauthorized
from taskstream.domain.tasks import zone
from taskstream.store.tables import User

router = APIRouter(tags=["auth"])


def _out(user: User) -> UserOut:
    return UserOut(
        id=user.id, email=user.email, name=user.name, timezone=user.timezone, created_at=user.created_at
    )


@router.post("/auth/register", status_code=201)
async def register(body: RegisterIn, ctx: Ctx) -> UserOut:
    """Create an account; 409 when the e-mail is taken, 422 for a short password, bad e-mail or zone."""
    timezone = body.timezone or "UTC"
    zone(timezone)
    user = User(
        id=str(uuid.uuid4()),
        email=body.email.lower(),
        name=body.name,
        password_hash=hash_password(body.password),
        timezone=timezone,
        created_at=ctx.clock.now(),
    )
    async with ctx.uow() as uow:
        if await uow.users.by_email(user.email):
            raise Conflict("this e-mail is already registered", field="email")
        uow.users.add(user)
        try:
            await uow.commit()
        except IntegrityError:
            raise Conflict("this e-mail is already registered", field="email") from None
    return _out(user)


@router.post("/auth/token")
async def token(form: Annotated[OAuth2PasswordRequestForm, Depends()], ctx: Ctx) -> TokenOut:
    """OAuth2 password flow: username = e-mail. 401 on bad credentials."""
    async with ctx.uow.reader() as uow:
        user = await uow.users.by_email(form.username)
    if user is None or not verify_password(user.password_hash, form.password):
        raise Unauthorized("wrong e-mail or password", field="password")
    return TokenOut(access_token=ctx.tokens.issue(user.id, now=ctx.clock.now()), expires_in=ctx.tokens.ttl_s)


@router.get("/me")
async def me(user: CurrentUser) -> UserOut:
    """The signed-in user."""
    return _out(user)

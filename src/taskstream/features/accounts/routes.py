"""Registration, tokens and the current user."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from taskstream.api.deps import Ctx, CurrentUser
from taskstream.features.accounts.schemas import RegisterIn, TokenOut, UserOut

router = APIRouter(tags=["auth"])


@router.post("/auth/register", status_code=201)
async def register(body: RegisterIn, ctx: Ctx) -> UserOut:
    """Create an account; 409 when the e-mail is taken, 422 for a short password, bad e-mail or zone."""
    user = await ctx.accounts.register(body.email, body.password, name=body.name, timezone=body.timezone)
    return UserOut.model_validate(user, from_attributes=True)


@router.post("/auth/token")
async def token(form: Annotated[OAuth2PasswordRequestForm, Depends()], ctx: Ctx) -> TokenOut:
    """OAuth2 password flow: username = e-mail. 401 on bad credentials."""
    user = await ctx.accounts.sign_in(form.username, form.password)
    return TokenOut(access_token=ctx.tokens.issue(user.id, now=ctx.clock.now()), expires_in=ctx.tokens.ttl_s)


@router.get("/me")
async def me(user: CurrentUser) -> UserOut:
    """The signed-in user."""
    return UserOut.model_validate(user, from_attributes=True)

"""Sign-up, tokens (OAuth 2.0 password and refresh grants), sign-out, and the signed-in user's account.

The refresh token is returned in the body (for API clients) and set as an HttpOnly, SameSite=Strict cookie
limited to /api/v1/auth (for the web UI, whose scripts never see it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Cookie, Form, Request, Response

from taskstream.api.deps import ApiContext, Ctx, CurrentCaller, CurrentUser
from taskstream.api.errors import responses
from taskstream.domain.errors import Unauthorized, ValidationError
from taskstream.features.accounts.schemas import (
    AccountDeleteIn,
    ExportOut,
    PasswordChangeIn,
    ProfilePatch,
    RegisterIn,
    TokenOut,
    UserOut,
)
from taskstream.features.accounts.service import SignedIn
from taskstream.features.audit.schemas import AuditOut
from taskstream.features.notifications.schemas import NotificationOut

router = APIRouter(tags=["auth"], responses=responses(422, 503))
SIGNED_IN = responses(401)

REFRESH_COOKIE = "taskstream_refresh"
COOKIE_PATH = "/api/v1/auth"


def _address(request: Request) -> str:
    """The client's address (behind a proxy, as uvicorn's --forwarded-allow-ips lets it be read)."""
    return request.client.host if request.client else "unknown"


def _tokens(ctx: ApiContext, signed_in: SignedIn, request: Request, response: Response) -> TokenOut:
    response.set_cookie(
        REFRESH_COOKIE,
        signed_in.refresh_token,
        max_age=int(ctx.settings.refresh_ttl_s),
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    response.headers["Cache-Control"] = "no-store"
    access = ctx.tokens.issue(signed_in.user.id, signed_in.session_id, now=ctx.clock.now())
    return TokenOut(access_token=access, expires_in=ctx.tokens.ttl_s, refresh_token=signed_in.refresh_token)


def _drop_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(REFRESH_COOKIE, path=COOKIE_PATH, secure=request.url.scheme == "https")


@router.post("/auth/register", status_code=201, responses=responses(409, 413, 429))
async def register(body: RegisterIn, ctx: Ctx, request: Request) -> UserOut:
    """Create an account. 409 when the e-mail is taken; 422 for a weak password, bad e-mail or zone; 429
    (Retry-After) after too many sign-ups from one address."""
    user = await ctx.accounts.register(
        body.email,
        body.password,
        name=body.name,
        timezone=body.timezone,
        address=_address(request),
        date_order=body.date_order,
    )
    return UserOut.model_validate(user, from_attributes=True)


@router.post("/auth/token", responses=responses(401, 413, 429))
async def token(
    ctx: Ctx,
    request: Request,
    response: Response,
    grant_type: Annotated[Literal["password", "refresh_token"], Form()] = "password",
    username: Annotated[str | None, Form(max_length=320, description="the e-mail (password grant)")] = None,
    password: Annotated[str | None, Form(max_length=256)] = None,
    refresh_token: Annotated[
        str | None, Form(max_length=200, description="refresh grant; default: the cookie")
    ] = None,
    cookie: Annotated[str | None, Cookie(alias=REFRESH_COOKIE, include_in_schema=False)] = None,
) -> TokenOut:
    """OAuth 2.0 token endpoint (RFC 6749 §4.3 and §6). Password grant: username = e-mail, opens a session;
    401 on bad credentials, 429 (Retry-After) after too many failures for the account or the address.
    Refresh grant: the refresh token (form field or cookie) is exchanged for new tokens; 401 when the
    session ended or the token was already used (which signs the session out)."""
    if grant_type == "refresh_token":
        presented = refresh_token or cookie
        if not presented:
            raise Unauthorized("send refresh_token (or its cookie)", field="refresh_token")
        signed_in = await ctx.accounts.refresh(presented)
    else:
        if not username:
            raise ValidationError("username (the e-mail) is required", field="username")
        if not password:
            raise ValidationError("password is required", field="password")
        signed_in = await ctx.accounts.sign_in(username, password, address=_address(request))
    return _tokens(ctx, signed_in, request, response)


@router.post("/auth/logout", status_code=204, responses=SIGNED_IN)
async def logout(
    ctx: Ctx, caller: CurrentCaller, request: Request, response: Response, everywhere: bool = False
) -> None:
    """Sign out this session (its access and refresh tokens stop working), or with everywhere=true every
    session of the account; their open WebSockets are closed."""
    await ctx.accounts.sign_out(caller.user, caller.session_id, everywhere=everywhere)
    _drop_cookie(request, response)


@router.get("/me", responses=SIGNED_IN)
async def me(user: CurrentUser) -> UserOut:
    """The signed-in user."""
    return UserOut.model_validate(user, from_attributes=True)


@router.patch("/me", responses=responses(401, 413))
async def update_me(body: ProfilePatch, ctx: Ctx, user: CurrentUser) -> UserOut:
    """Change the settings given (name, timezone, date_order, all_day_reminder_time); the others stay.
    422 names a bad field."""
    changed = await ctx.accounts.update_profile(user, body.model_dump(include=body.model_fields_set))
    return UserOut.model_validate(changed, from_attributes=True)


@router.post("/me/password", status_code=204, responses=responses(401, 413, 429))
async def change_password(body: PasswordChangeIn, ctx: Ctx, caller: CurrentCaller, request: Request) -> None:
    """Change the password; every other session is signed out. 401 (field current_password) when the
    current password is wrong, 422 for a weak new one, 429 after too many wrong ones."""
    await ctx.accounts.change_password(
        caller.user, caller.session_id, body.current_password, body.new_password, address=_address(request)
    )


@router.get("/me/export", responses=SIGNED_IN)
async def export(ctx: Ctx, user: CurrentUser, response: Response) -> ExportOut:
    """Everything kept about the account as one JSON document: profile, tasks, notifications, history."""
    now: datetime = ctx.clock.now()
    response.headers["Content-Disposition"] = f'attachment; filename="taskstream-{now:%Y%m%d}.json"'
    response.headers["Cache-Control"] = "no-store"
    return ExportOut(
        exported_at=now,
        user=UserOut.model_validate(user, from_attributes=True),
        tasks=await ctx.tasks.export(user.id),
        notifications=[
            NotificationOut.model_validate(n, from_attributes=True)
            for n in await ctx.notifications.export(user.id)
        ],
        history=[AuditOut.model_validate(e, from_attributes=True) for e in await ctx.audit.export(user.id)],
    )


@router.delete("/me", status_code=204, responses=responses(401, 413, 429))
async def delete_account(
    body: AccountDeleteIn, ctx: Ctx, caller: CurrentCaller, request: Request, response: Response
) -> None:
    """Delete the account and all its data, after checking the password (401 when wrong). Every service
    forgets the user (through the account.deleted event); every session ends."""
    await ctx.accounts.delete(caller.user, body.password, address=_address(request))
    _drop_cookie(request, response)

"""Request and response bodies of the accounts endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from taskstream.domain.quickadd_grammar import DateOrder
from taskstream.features.accounts.policy import MAX_LENGTH, MIN_LENGTH
from taskstream.features.audit.schemas import AuditOut
from taskstream.features.notifications.schemas import NotificationOut
from taskstream.features.tasks.schemas import TaskOut

DATE_ORDER_HELP = 'how numeric dates are written: "DMY" (31/12), "MDY" (12/31) or "YMD" (2026/12/31)'


ALL_DAY_HELP = (
    '"HH:MM": reminders of all-day tasks count from this time of their date ("P1D" before: the day before '
    "at this time); reminders scheduled before a change keep their time"
)


class RegisterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: EmailStr
    password: str = Field(
        min_length=MIN_LENGTH,
        max_length=MAX_LENGTH,
        description="not blank, not a common password (judged by zxcvbn, score 2 of 4 at least)",
    )
    name: str | None = Field(None, max_length=200)
    timezone: str | None = Field(None, max_length=64, description="IANA zone; default UTC")
    date_order: DateOrder | None = Field(None, description=DATE_ORDER_HELP)


class ProfilePatch(BaseModel):
    """The settings to change; those left out stay as they are."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=200, description="null or blank: no name")
    timezone: str | None = Field(None, max_length=64, description="IANA zone (not null)")
    date_order: DateOrder | None = Field(None, description=DATE_ORDER_HELP + " (not null)")
    all_day_reminder_time: str | None = Field(None, max_length=5, description=ALL_DAY_HELP + " (not null)")


class PasswordChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=MAX_LENGTH)
    new_password: str = Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH, description="as at sign-up")


class AccountDeleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str = Field(min_length=1, max_length=MAX_LENGTH, description="the account's password, again")


class UserOut(BaseModel):
    id: str
    email: str
    name: str | None
    timezone: str
    date_order: DateOrder | None = Field(description="None until chosen; quick add then reads day first")
    all_day_reminder_time: str = Field(description=ALL_DAY_HELP)
    created_at: datetime


class TokenOut(BaseModel):
    """OAuth 2.0 token response (RFC 6749 §5.1): a short-lived access token, the session's refresh token."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds until the access token expires")
    refresh_token: str = Field(
        description="single use: trade it at /auth/token (grant_type=refresh_token) for new tokens; "
        "a token used twice signs the session out"
    )


class ExportOut(BaseModel):
    """Everything taskstream keeps about the account (passwords and tokens excepted)."""

    format: Literal["taskstream-export/1"] = "taskstream-export/1"
    exported_at: datetime
    user: UserOut
    tasks: list[TaskOut] = Field(description="every task, open and completed, oldest first")
    notifications: list[NotificationOut]
    history: list[AuditOut] = Field(description="the audit log, oldest first")

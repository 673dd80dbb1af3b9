"""Request and response bodies of the accounts endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field


class RegisterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: EmailStr
    password: str = Field(min_length=8, max_length=256)
    name: str | None = Field(None, max_length=200)
    timezone: str | None = Field(None, max_length=64, description="IANA zone; default UTC")


class UserOut(BaseModel):
    id: str
    email: str
    name: str | None
    timezone: str
    created_at: datetime


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds")

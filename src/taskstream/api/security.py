"""Access tokens (JWT, HS256); passwords are hashed by the accounts feature."""

from __future__ import annotations

from datetime import datetime, timedelta

import jwt

from taskstream.domain.errors import Unauthorized


class Tokens:
    """Issues and checks bearer tokens: JWT (RFC 7519) signed with HS256, subject = user id."""

    def __init__(self, secret: str, *, ttl_s: int) -> None:
        self._secret = secret
        self.ttl_s = ttl_s

    def issue(self, user_id: str, *, now: datetime) -> str:
        """A token for `user_id` valid for ttl_s seconds from `now`."""
        claims = {
            "sub": user_id,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=self.ttl_s)).timestamp()),
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def user_id(self, token: str, *, now: datetime) -> str:
        """The user id in a token valid at `now`; Unauthorized when malformed, forged or expired."""
        return self.check(token, now=now)[0]

    def check(self, token: str, *, now: datetime) -> tuple[str, int]:
        """(user id, expiry in UNIX seconds) of a token valid at `now`; Unauthorized when malformed, forged
        or expired."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                options={"require": ["sub", "exp"], "verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError as error:
            raise Unauthorized(f"invalid token: {error}") from None
        if int(claims["exp"]) <= now.timestamp():
            raise Unauthorized("the token has expired; sign in again")
        return str(claims["sub"]), int(claims["exp"])

"""Access tokens (JWT, HS256) and refresh tokens of sessions; passwords are hashed in passwords.py."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from taskstream.domain.errors import Unauthorized


@dataclass(frozen=True)
class Claims:
    """What a valid access token says: its user, its session and when it expires (UNIX seconds)."""

    user_id: str
    session_id: str
    expires: int


class Tokens:
    """Issues and checks bearer access tokens: JWT (RFC 7519) signed with HS256.

    Claims: `sub` = user id, `sid` = session id (a row of the sessions table), `iat`, `exp`. Access tokens
    are short-lived (ttl_s); the session's refresh token gets a new one (see AccountService.refresh).
    """

    def __init__(self, secret: str, *, ttl_s: int) -> None:
        self._secret = secret
        self.ttl_s = ttl_s

    def issue(self, user_id: str, session_id: str, *, now: datetime) -> str:
        """A token for `user_id` in session `session_id`, valid for ttl_s seconds from `now`."""
        claims = {
            "sub": user_id,
            "sid": session_id,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=self.ttl_s)).timestamp()),
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def check(self, token: str, *, now: datetime) -> Claims:
        """The claims of a token valid at `now`; Unauthorized when malformed, forged, expired or sessionless.

        The signature and claims are checked here; whether the session is still open is the caller's
        question (it needs the database).
        """
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                options={"require": ["sub", "sid", "exp"], "verify_exp": False, "verify_iat": False},
            )
            user_id, session_id, expires = str(claims["sub"]), str(claims["sid"]), int(claims["exp"])
        except (jwt.PyJWTError, TypeError, ValueError, OverflowError) as error:
            raise Unauthorized(f"invalid token: {error}") from None
        if expires <= now.timestamp():
            raise Unauthorized("the token has expired; sign in again")
        return Claims(user_id, session_id, expires)


REFRESH_PREFIX = "tsr1"  # refresh token format version


@dataclass(frozen=True)
class RefreshToken:
    """An opaque refresh token `tsr1.<session id>.<secret>`; only the secret's SHA-256 is stored."""

    session_id: str
    secret: str

    @classmethod
    def new(cls, session_id: str) -> RefreshToken:
        """A fresh secret (256 bits) for `session_id`."""
        return cls(session_id, secrets.token_urlsafe(32))

    @classmethod
    def parse(cls, text: str) -> RefreshToken:
        """The token in `text`; Unauthorized(field="refresh_token") when it is not one."""
        prefix, _, rest = text.partition(".")
        session_id, _, secret = rest.partition(".")
        if prefix != REFRESH_PREFIX or not session_id or not secret or len(text) > 200:
            raise Unauthorized("not a refresh token; sign in again", field="refresh_token")
        return cls(session_id, secret)

    def __str__(self) -> str:
        return f"{REFRESH_PREFIX}.{self.session_id}.{self.secret}"

    @property
    def digest(self) -> str:
        """SHA-256 of the secret, hex (what the sessions table keeps)."""
        return hashlib.sha256(self.secret.encode()).hexdigest()

    def matches(self, digest: str) -> bool:
        """True when this token's secret is the one `digest` was made from (constant time)."""
        return hmac.compare_digest(self.digest, digest)

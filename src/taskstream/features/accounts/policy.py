"""Password policy: long enough, not blank, and not easy to guess (zxcvbn's estimate)."""

from __future__ import annotations

from zxcvbn import zxcvbn

from taskstream.domain.errors import ValidationError

MIN_LENGTH = 8
MAX_LENGTH = 256
MIN_SCORE = 2  # zxcvbn 0–4; 2 = more than 10^6 guesses (the common-password lists fall below)
_CHECKED_CHARS = 72  # zxcvbn's own limit; a longer password is judged by its start


def check_password(password: str, *, field: str, context: list[str]) -> None:
    """ValidationError(field) unless `password` has MIN_LENGTH..MAX_LENGTH characters, is not blank and
    scores at least MIN_SCORE in zxcvbn; `context` (e-mail, name) counts as easy to guess."""
    if len(password) < MIN_LENGTH:
        raise ValidationError(f"the password needs at least {MIN_LENGTH} characters", field=field)
    if len(password) > MAX_LENGTH:
        raise ValidationError(f"the password may have at most {MAX_LENGTH} characters", field=field)
    if not password.strip():
        raise ValidationError("the password cannot be only spaces", field=field)
    verdict = zxcvbn(password[:_CHECKED_CHARS], user_inputs=[c for c in context if c])
    if verdict["score"] < MIN_SCORE:
        warning = verdict["feedback"].get("warning") or "This password is easy to guess."
        raise ValidationError(f"{warning} Add another word or two; uncommon words are better.", field=field)

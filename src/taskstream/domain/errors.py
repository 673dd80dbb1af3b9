"""Domain errors; the API maps each class to one HTTP status in one place."""

from __future__ import annotations


class DomainError(Exception):
    """Base class of every error a use case raises on purpose."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationError(DomainError):
    """Input breaks a rule; `field` names the offending field (dotted path, e.g. "reminders.0.before")."""


class NotFound(DomainError):
    """The thing does not exist or belongs to another user (both look the same to the caller)."""


class Conflict(DomainError):
    """The change clashes with existing state (e.g. an e-mail already registered)."""


class PreconditionFailed(DomainError):
    """An If-Match version is stale: the task changed since the caller read it."""


class Unauthorized(DomainError):
    """Missing or wrong credentials."""


class DependencyUnavailable(DomainError):
    """A dependency (database, broker) cannot be reached; the caller may retry later."""


class OutOfSpace(DependencyUnavailable):
    """The database has no disk space left: nothing was written; the caller may retry once there is room."""


class TooManyRequests(DomainError):
    """Too many attempts from one account or address; `retry_after_s` says when the next one is allowed."""

    def __init__(self, message: str, *, retry_after_s: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after_s = retry_after_s

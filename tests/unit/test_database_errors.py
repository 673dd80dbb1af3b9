"""Which failures mean "the database cannot be reached" (503), including the drivers' own errors that the
fixed statements of store/raw.py raise as they are."""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest

from taskstream.domain.errors import DependencyUnavailable
from taskstream.store.uow import as_unavailable, is_connection_error


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.InterfaceError("cannot call Connection.fetch(): connection is closed"),
        ConnectionResetError("Connection reset by peer"),
        sqlite3.OperationalError("unable to open database file"),
    ],
)
def test_a_lost_connection_is_unavailable(error: Exception) -> None:
    assert is_connection_error(error)
    unavailable = as_unavailable(error)
    assert isinstance(unavailable, DependencyUnavailable)
    assert "unreachable" in str(unavailable)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.UniqueViolationError("duplicate key value violates unique constraint"),
        asyncpg.exceptions.UndefinedColumnError("column tasks.nope does not exist"),
        ValueError("not a database failure"),
    ],
)
def test_other_errors_stay_errors(error: Exception) -> None:
    assert not is_connection_error(error)
    assert as_unavailable(error) is None

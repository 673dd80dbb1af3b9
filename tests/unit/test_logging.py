"""A library that logs every failed reconnect is let through once a minute per message."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from taskstream.cli.main import RepeatFilter


def _record(name: str, msg: str, created: float) -> logging.LogRecord:
    record = logging.LogRecord(name, logging.ERROR, __file__, 1, msg, (1,), None)
    record.created = created
    return record


def test_each_message_of_a_library_passes_once_per_minute_and_other_loggers_always() -> None:
    repeat = RepeatFilter("aiokafka", every_s=60.0)
    passed = [
        repeat.filter(_record(name, msg, at))
        for name, msg, at in [
            ("aiokafka.conn", "Unable connect to node %s", 0.0),
            ("aiokafka.conn", "Unable connect to node %s", 1.0),  # the same message: dropped
            ("aiokafka.client", "Unable to update metadata from %s", 1.5),  # another one: kept
            ("taskstream.transports.kafka", "Unable connect to node %s", 2.0),  # not the library's: kept
            ("aiokafka.conn", "Unable connect to node %s", 59.0),  # dropped
            ("aiokafka.conn", "Unable connect to node %s", 61.0),  # a minute later: kept
        ]
    ]
    assert passed == [True, False, True, True, False, True]


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """configure_logging points the root logger and structlog at this test's stderr: put them back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers, root.level = handlers, level
        structlog.reset_defaults()


def test_a_logged_error_shows_no_locals_and_no_secret(capsys: Any, restored_logging: None) -> None:
    from taskstream.cli.main import configure_logging
    from taskstream.settings import Settings

    for log_format in ("console", "json"):
        configure_logging(Settings(log_format=log_format, jwt_secret="s3cr3t-jwt-key-0123456789"))
        log = structlog.get_logger("test")
        secret_local = "hunter2-local-value"  # noqa: F841 (a local a traceback with locals would print)
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("request failed", password="hunter2-field", api_token="tok-123456")
        err = capsys.readouterr().err
        assert "boom" in err and "request failed" in err, log_format
        for secret in ("hunter2-local-value", "hunter2-field", "tok-123456", "s3cr3t-jwt-key"):
            assert secret not in err, (log_format, secret)


def test_console_lines_are_coloured_only_on_a_terminal(
    capsys: Any, restored_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskstream.cli.main import configure_logging
    from taskstream.settings import Settings

    monkeypatch.delenv("NO_COLOR", raising=False)
    for tty, coloured in ((False, False), (True, True)):
        monkeypatch.setattr(sys.stderr, "isatty", lambda tty=tty: tty)
        configure_logging(Settings(log_format="console"))
        structlog.get_logger("test").warning("something happened", thing="x")
        err = capsys.readouterr().err
        assert "something happened" in err and ("\x1b[" in err) is coloured, (tty, err)
    monkeypatch.setenv("NO_COLOR", "1")
    configure_logging(Settings(log_format="console"))
    structlog.get_logger("test").warning("again")
    assert "\x1b[" not in capsys.readouterr().err

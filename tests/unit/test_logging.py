"""A library that logs every failed reconnect is let through once a minute per message."""

from __future__ import annotations

import logging

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

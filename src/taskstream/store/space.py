"""Running out of disk space: a write that failed for lack of space marks the database full; /readyz says so
until its filesystem has room again (SQLite: ROOM_BYTES free), or for PostgreSQL, whose disk is not ours to
look at, until RECHECK_S have passed without another such failure. (A successful commit proves nothing: an
update may fit in pages an insert cannot.)

SQLite reports SQLITE_FULL ("database or disk is full") or an OSError ENOSPC; PostgreSQL SQLSTATE 53100
(disk_full) or "No space left on device". One state per process: a process uses one database.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import structlog
from sqlalchemy.engine import URL

log = structlog.get_logger(__name__)

DISK_FULL_MESSAGE = "the server is out of disk space; nothing was changed, try again later"
ROOM_BYTES = 4 * 1024 * 1024  # free space on a SQLite file's filesystem that counts as room again
RECHECK_S = 30.0  # PostgreSQL (its disk is not ours to look at): unready this long after the last failure
_LOG_EVERY_S = 60.0


def is_disk_full(error: BaseException) -> bool:
    """True when `error` (a SQLAlchemy error, its driver's, or an OSError) says the disk is full."""
    for candidate in (error, getattr(error, "orig", None), error.__cause__):
        if candidate is None:
            continue
        if isinstance(candidate, OSError) and candidate.errno == errno.ENOSPC:
            return True
        if getattr(candidate, "sqlstate", None) == "53100":
            return True
        text = str(candidate).lower()
        if "database or disk is full" in text or "no space left on device" in text:
            return True
    return False


class DiskSpace:
    """Whether this process's database ran out of space; `where` names it in the log (the SQLite file, or
    PostgreSQL's host and database)."""

    def __init__(self) -> None:
        self.where: str = "the database"
        self.sqlite_file: Path | None = None
        self.full_since: float | None = None
        self._logged_at = -_LOG_EVERY_S

    def watch(self, url: URL) -> None:
        """Name the database of `url` in what this reports (never its password)."""
        if url.get_backend_name() == "sqlite" and url.database:
            self.sqlite_file = Path(url.database)
            self.where = str(self.sqlite_file)
        else:
            self.sqlite_file, self.where = None, f"{url.host or 'localhost'}/{url.database or ''}"

    def problem(self) -> str | None:
        """What /readyz says while the database is out of space (None when it is not)."""
        if not self.full():
            return None
        free = self.free_bytes()
        room = f", {free // 1024} KiB free" if free is not None else ""
        return f"the database is out of disk space ({self.where}{room}): writes fail until there is room"

    def mark(self, error: BaseException) -> None:
        """A write failed for lack of space: log it (at most once a minute) naming the database."""
        now = time.monotonic()
        self.full_since = now
        if now - self._logged_at >= _LOG_EVERY_S:
            self._logged_at = now
            log.error(
                "the database is out of disk space: writes fail (nothing is lost) until there is room",
                database=self.where,
                free_bytes=self.free_bytes(),
                error=str(error)[:300],
            )

    def _room_again(self) -> None:
        self.full_since = None
        log.info("the database has room again: writes succeed", database=self.where)

    def free_bytes(self) -> int | None:
        """Free bytes on the SQLite file's filesystem (None for PostgreSQL, or when it cannot be read)."""
        if self.sqlite_file is None:
            return None
        try:
            stat = os.statvfs(self.sqlite_file.parent)
        except OSError:
            return None
        return stat.f_bavail * stat.f_frsize

    def full(self) -> bool:
        """Still out of space? (SQLite: no room on its filesystem; PostgreSQL: failed within RECHECK_S.)"""
        if self.full_since is None:
            return False
        free = self.free_bytes()
        if free is not None and free >= ROOM_BYTES:
            self._room_again()
            return False
        if free is None and time.monotonic() - self.full_since >= RECHECK_S:
            self._room_again()  # as far as we know: the next write tells
            return False
        return True


OUT_OF_SPACE = DiskSpace()

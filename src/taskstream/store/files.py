"""Files of the embedded mode readable by their owner only: the data directory (0700) and the SQLite file
(0600; SQLite gives its -wal and -shm files the database file's mode)."""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """`path` as a directory, created (with its missing parents) with mode 0700 when it does not exist.

    A directory that exists keeps its mode: it may be one the operator chose and shares on purpose.
    """
    if not path.is_dir():
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    return path


def private_file(path: Path) -> Path:
    """`path` created empty with mode 0600 when it does not exist (before a library creates it 0644)."""
    private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
    except FileExistsError:
        pass
    return path

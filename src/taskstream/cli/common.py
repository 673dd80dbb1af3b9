"""What the server-side commands share: reading the settings with errors a person can act on."""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from pathlib import Path
from typing import IO, Any

import typer
from pydantic import ValidationError

from taskstream.settings import Settings
from taskstream.store.files import private_dir


def load_settings(**overrides: Any) -> Settings:
    """Settings from the TASKSTREAM_* variables, with the command line's values (None: not given) on top.

    A bad value ends the command with exit code 2 and one line per problem naming its variable.
    """
    try:
        return Settings(**{name: value for name, value in overrides.items() if value is not None})
    except ValidationError as error:
        for problem in error.errors():
            variable = "TASKSTREAM_" + "_".join(str(part) for part in problem["loc"]).upper()
            typer.secho(f"invalid setting {variable}: {problem['msg']}", fg="red", err=True)
        raise typer.Exit(2) from None


def hold_data_dir(data_dir: Path) -> IO[str]:
    """Take the data directory for this `taskstream up` until the process ends (an flock on up.lock).

    A second `up` on the same directory would share its SQLite file and its Kafka broker behind the first
    one's back; it ends with exit code 1 instead, naming the process that holds the directory.
    """
    private_dir(data_dir)
    handle = (data_dir / "up.lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        typer.secho(
            f"another `taskstream up` (pid {holder}) runs on {data_dir}; stop it, or pass another --data-dir",
            fg="red",
            err=True,
        )
        raise typer.Exit(1) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def require_free_port(host: str, port: int) -> None:
    """Exit with code 1 and one message naming the address when nothing can listen on host:port (taken by
    another process, or not an address of this machine), before any service starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(
            socket.SOL_SOCKET, socket.SO_REUSEADDR, 1
        )  # as uvicorn binds: TIME_WAIT is no obstacle
        try:
            probe.bind((host, port))
        except OSError as error:
            why = (
                "is already in use"
                if error.errno == errno.EADDRINUSE
                else f"cannot be listened on ({error.strerror})"
            )
            typer.secho(
                f"{host}:{port} {why}: stop what listens there (`ss -ltnp 'sport = :{port}'` names it), "
                "or pass another --port",
                fg="red",
                err=True,
            )
            raise typer.Exit(1) from None

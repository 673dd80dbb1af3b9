"""A real Apache Kafka broker for development and tests: single-node KRaft, its log on disk.

The jars come from Maven Central (see jars.py). A broker lives in a data directory:

    DIR/log/            the Kafka log (topics, records, committed offsets, the KRaft metadata log)
    DIR/state.json      port, pid and cluster id of the broker last started here
    DIR/server.properties, DIR/log4j2.properties   written at each start
    DIR/logs/           the broker's own log (server.log, size-bounded) and the JVM's output

Starting again on an existing DIR reuses its log (and its port, unless another is given): records and
committed offsets survive a stop, a crash or `kill -9`. `wipe()` deletes the log, so the next start formats a
new, empty cluster with a new cluster id — what a lost disk or a re-provisioned cluster looks like.

Only the standard library is used, so `deploy/local/kafka` runs with any Python 3.11.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from taskstream.devkafka.files import locked, log4j_properties
from taskstream.devkafka.jars import BrokerError, ensure_jars, java_binary
from taskstream.devkafka.net import free_port, kafka_metadata_ok, port_in_use

DEFAULT_PORT = 9092
DEFAULT_HEAP = "512m"  # the JVM's maximum heap; a dev broker with a few topics needs far less than this


@dataclass(frozen=True)
class Listener:
    """An extra listener: `name` (e.g. "SASL"), security `protocol` (SASL_PLAINTEXT, SSL, SASL_SSL), port."""

    name: str
    protocol: str
    port: int


def default_data_dir() -> Path:
    """The data directory `deploy/local/kafka` uses without --data."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "taskstream" / "kafka"


def new_cluster_id() -> str:
    """A random Kafka cluster id: 16 bytes, URL-safe base64 without padding (`kafka-storage random-uuid`).

    Never starting with "-", as Kafka's own ids: the storage tool would read such an id as an option.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class KafkaBroker:
    """One Apache Kafka broker (combined broker and controller, KRaft) whose log lives in `data_dir`.

    Blocking methods (process management and a readiness probe); from async code call them through
    `asyncio.to_thread`. The process runs in its own session and outlives the Python process that started
    it, so the command line can start it in one call and stop it in another; `stop()` finds it by the pid
    in DIR/state.json.

    listeners: extra listeners beside the PLAINTEXT one on `port` (which brokers use among themselves and the
    readiness probe uses); properties: server.properties entries that override the defaults (for SASL, TLS);
    scram_users: (mechanism, user, password) credentials created when the log is formatted.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        listeners: Sequence[Listener] = (),
        properties: Mapping[str, str] | None = None,
        scram_users: Sequence[tuple[str, str, str]] = (),
        heap: str = DEFAULT_HEAP,
        ready_timeout_s: float = 120.0,
        stop_timeout_s: float = 30.0,
    ) -> None:
        if port is not None and not 1 <= port <= 65535:
            raise BrokerError(f"port {port} is not between 1 and 65535")
        self.data_dir = Path(data_dir).resolve()
        self.host = host
        self._port = port
        self.listeners = tuple(listeners)
        self.properties = dict(properties or {})
        self.scram_users = tuple(scram_users)
        self.heap = heap
        self.ready_timeout_s = ready_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self._process: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ what it is

    @property
    def port(self) -> int:
        """The PLAINTEXT port: as given, else the one this DIR used last, else 9092."""
        if self._port is None:
            self._port = self.last_port or DEFAULT_PORT
        return self._port

    @property
    def last_port(self) -> int | None:
        """The port the broker of this DIR used last (None for a new DIR)."""
        stored = self._state().get("port")
        return stored if isinstance(stored, int) else None

    @property
    def bootstrap(self) -> str:
        """Bootstrap address for Kafka clients: "HOST:PORT"."""
        return f"{self.host}:{self.port}"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "log"

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs (found through DIR/state.json), else None."""
        if self._process is not None:
            return self._process.pid if self._process.poll() is None else None
        pid = self._state().get("pid")
        return pid if isinstance(pid, int) and self._is_our_broker(pid) else None

    @property
    def running(self) -> bool:
        """True while the broker process is alive (a paused broker counts as alive)."""
        return self.pid is not None

    def cluster_id(self) -> str | None:
        """The cluster id of the formatted log in DIR (None before the first start or after wipe())."""
        meta = self.log_dir / "meta.properties"
        if not meta.exists():
            return None
        for line in meta.read_text().splitlines():
            if line.startswith("cluster.id="):
                return line.split("=", 1)[1].strip()
        return None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> str:
        """Start the broker (formatting DIR/log first if it is new) and wait until it answers metadata.

        Returns the bootstrap address. Raises BrokerError when Java or the jars are missing, DIR cannot be
        used, the port is taken, the process exits, or it is not ready within ready_timeout_s seconds (naming
        the log to read). Starts on one DIR wait for each other (a lock in DIR), so one broker runs there.
        """
        try:
            with self._locked():
                return self._start()
        except OSError as error:
            raise BrokerError(f"cannot use {self.data_dir}: {error}") from error

    def _start(self) -> str:
        if self.running:
            raise BrokerError(
                f"a broker already runs on {self.data_dir} (pid {self.pid}) at {self.bootstrap}"
            )
        java = java_binary()
        lib = ensure_jars()
        if port_in_use(self.host, self.port):
            raise BrokerError(f"port {self.port} on {self.host} is in use; pass another port")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "logs").mkdir(exist_ok=True)
        controller_port = free_port(self.host)
        config = self.data_dir / "server.properties"
        config.write_text(self._server_properties(controller_port))
        log4j = self.data_dir / "log4j2.properties"
        log4j.write_text(log4j_properties(self.data_dir / "logs"))
        classpath = f"{lib}/*"
        if self.cluster_id() is None:
            self._format(java, classpath, config)
        command = [
            java,
            f"-Xmx{self.heap}",
            "-Xms128m",
            "-XX:+UseSerialGC",  # two cores: no parallel GC threads competing with the services under test
            "-XX:TieredStopAtLevel=1",  # C1 only: starts in half the time, plenty fast for development
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(config),
        ]
        with (self.data_dir / "logs" / "stdout.log").open("ab") as output:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.data_dir,
            )
        self._write_state(pid=self._process.pid)
        self._wait_ready()
        return self.bootstrap

    def stop(self) -> None:
        """SIGTERM (a controlled shutdown that flushes the log), SIGKILL after stop_timeout_s; idempotent."""
        if not self.data_dir.is_dir():
            return
        with self._locked():
            self._stop()

    def _stop(self) -> None:
        pid = self.pid
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)  # a paused broker acts on SIGTERM only once continued
            os.kill(pid, signal.SIGTERM)
        if not self._wait_exit(pid, self.stop_timeout_s):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self._wait_exit(pid, 10.0)
        self._process = None

    def kill(self) -> None:
        """SIGKILL, as a crash: nothing is shut down, what reached the log is kept."""
        pid = self.pid
        if pid is None:
            raise BrokerError(f"no broker runs on {self.data_dir}")
        os.kill(pid, signal.SIGKILL)
        self._wait_exit(pid, 10.0)
        self._process = None

    def pause(self) -> None:
        """SIGSTOP: connections stay open and requests go unanswered (a hung broker); nothing is lost."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after pause(): the broker answers what queued meanwhile."""
        self._signal(signal.SIGCONT)

    def wipe(self) -> None:
        """Stop the broker if it runs and delete its log: the next start is a new, empty cluster."""
        self.stop()
        shutil.rmtree(self.log_dir, ignore_errors=True)

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ internals

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with locked(self.data_dir / ".launcher.lock"):
            yield

    def _server_properties(self, controller_port: int) -> str:
        names = ["PLAINTEXT", *(listener.name for listener in self.listeners)]
        if len(set(names)) != len(names) or "CONTROLLER" in names:
            raise BrokerError(f"listener names must be unique and not CONTROLLER: {names}")
        protocol_map = ["PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT"] + [
            f"{listener.name}:{listener.protocol}" for listener in self.listeners
        ]
        client = [f"PLAINTEXT://{self.host}:{self.port}"] + [
            f"{listener.name}://{self.host}:{listener.port}" for listener in self.listeners
        ]
        values = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{self.host}:{controller_port}",
            "controller.listener.names": "CONTROLLER",
            "listeners": ",".join([*client, f"CONTROLLER://{self.host}:{controller_port}"]),
            "advertised.listeners": ",".join(client),
            "listener.security.protocol.map": ",".join(protocol_map),
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.log_dir),
            # Topics are created by the services (with their partition count); a produce to a missing topic
            # must fail instead of creating a one-partition topic behind their back.
            "auto.create.topics.enable": "false",
            "num.partitions": "6",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "6",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",  # one node, no other members to wait for
            "group.min.session.timeout.ms": "1000",  # tests use session timeouts of a few seconds
            "num.network.threads": "2",
            "num.io.threads": "4",
            "num.recovery.threads.per.data.dir": "2",
        }
        values.update(self.properties)
        header = "# Written by taskstream's dev broker launcher at each start; edits are overwritten.\n"
        return header + "".join(f"{key}={value}\n" for key, value in values.items())

    def _format(self, java: str, classpath: str, config: Path) -> None:
        cluster = new_cluster_id()
        command = [
            java,
            "-cp",
            classpath,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster,
            "-c",
            str(config),
        ]
        for mechanism, user, password in self.scram_users:
            command += ["--add-scram", f"{mechanism}=[name={user},password={password}]"]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BrokerError(f"formatting {self.log_dir} failed: {(result.stdout + result.stderr).strip()}")
        self._write_state(cluster_id=cluster)

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise BrokerError(f"the broker exited with code {code}; see {self._log_hint()}")
            if kafka_metadata_ok(self.host, self.port, timeout_s=1.0):
                return
            time.sleep(0.1)
        self.stop()
        raise BrokerError(
            f"the broker at {self.bootstrap} was not ready within {self.ready_timeout_s} s; "
            f"see {self._log_hint()}"
        )

    def _log_hint(self) -> str:
        logs = self.data_dir / "logs"
        return f"{logs / 'server.log'} and {logs / 'stdout.log'}"

    def _signal(self, signum: signal.Signals) -> None:
        pid = self.pid
        if pid is None:
            raise BrokerError(f"no broker runs on {self.data_dir}")
        os.kill(pid, signum)

    def _wait_exit(self, pid: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process is not None and self._process.pid == pid:
                if self._process.poll() is not None:
                    return True
            elif not self._is_our_broker(pid):
                return True
            time.sleep(0.05)
        return False

    def _is_our_broker(self, pid: int) -> bool:
        """True when `pid` is alive and is the broker of this DIR (a recycled pid is someone else)."""
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        zombie = stat.rsplit(")", 1)[-1].split()[0] == "Z"
        return not zombie and str(self.data_dir / "server.properties").encode() in cmdline

    def _state(self) -> dict[str, object]:
        path = self.data_dir / "state.json"
        try:
            loaded = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def _write_state(self, **changes: object) -> None:
        state = self._state() | {"host": self.host, "port": self.port} | changes
        path = self.data_dir / "state.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, indent=2) + "\n")
        temporary.replace(path)

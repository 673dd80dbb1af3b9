"""A DaprBus with a real daprd beside it, for the shared bus contract suite.

`SidecarBus.start()` serves the app's Dapr routes on a free port (uvicorn, in the test's event loop, so the
handlers run where the test awaits them), writes the resources daprd loads — the components and resiliency
policy rendered from deploy/k8s/base/dapr, and one Subscription per subscribed topic — and starts daprd on
them. The app id is the consumer group, as in the deployment (one group per app). The suite's values are
plain bytes, so its subscriptions take raw payloads (daprd wraps each in a CloudEvent of its own).
`Process` is the handle on that daprd: output in a log file, health polled, stopped with SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvicorn
import yaml
from fastapi import FastAPI

from taskstream.devdapr import DaprUnavailable, SidecarPorts, binaries, daprd_command
from taskstream.devdapr.resources import render
from taskstream.devkafka import free_port
from taskstream.events.topics import dead_letter_topic
from taskstream.messaging.bus import Handler, Message
from taskstream.transports.dapr import DaprBus
from taskstream.transports.dapr_routes import dapr_router, event_route
from taskstream.transports.kafka import KafkaBus

PROBE_KEY = "__probe__"  # messages the harness publishes to see a subscription deliver; never handed on
APP_TOKEN = "contract-app-token"
API_TOKEN = "contract-api-token"


def http_ok(url: str, *, timeout_s: float = 1.0) -> bool:
    """True when GET `url` answers 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


class Process:
    """One daprd or scheduler process: output appended to `log`, health polled at `health_url`."""

    def __init__(self, command: list[str], *, log: Path, health_url: str, env: dict[str, str] | None = None):
        self.command = command
        self.log = log
        self.health_url = health_url
        self.env = env or {}
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        """True while the process has not exited."""
        return self.popen is not None and self.popen.poll() is None

    def start(self, *, wait_s: float | None = 60.0) -> Process:
        """Start it; with `wait_s`, wait for its health URL (DaprUnavailable if it exits or times out)."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.command,
                env=dict(os.environ) | self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if wait_s is not None:
            self.wait_healthy(wait_s)
        return self

    def wait_healthy(self, timeout_s: float) -> None:
        """Poll the health URL until it answers 2xx; DaprUnavailable if the process exits or time runs out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.running:
                raise DaprUnavailable(f"{Path(self.command[0]).name} exited; see {self.log}:\n{self.tail()}")
            if http_ok(self.health_url):
                return
            time.sleep(0.1)
        name = Path(self.command[0]).name
        raise DaprUnavailable(f"{name} not healthy within {timeout_s} s:\n{self.tail()}")

    def tail(self, lines: int = 15) -> str:
        """The last lines of its log."""
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def kill(self) -> None:
        """SIGKILL, then reap it (a crash: nothing is flushed or acknowledged)."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM, wait up to `timeout_s`, then SIGKILL."""
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()


class SidecarBus(DaprBus):
    """A DaprBus whose start() brings up its own app server and daprd (see the module docstring)."""

    def __init__(self, bootstrap: str, directory: Path, name: str) -> None:
        ports = SidecarPorts()
        super().__init__(
            http_port=ports.http, app_id=name, api_token=API_TOKEN, app_token=APP_TOKEN, timeout_s=10.0
        )
        self.bootstrap = bootstrap
        self.directory = directory
        self.ports = ports
        self.app_port = free_port()
        self.daprd: Process | None = None
        self._server: uvicorn.Server | None = None
        self._serving: asyncio.Task[None] | None = None
        self._probed: dict[str, asyncio.Event] = {}
        self._topics: set[str] = set()

    def subscribe(self, topic: str, *, group: str | None, handler: Handler) -> None:
        """As DaprBus, but the harness's probe messages stop here."""
        probed = self._probed.setdefault(topic, asyncio.Event())

        async def unless_probe(message: Message) -> object:
            if message.key == PROBE_KEY:
                probed.set()
                return None
            return await handler(message)

        if group is not None and self.app_id.startswith("contract-"):
            self.app_id = group  # the consumer group is the app id, as in the deployment
        super().subscribe(topic, group=group, handler=unless_probe)

    def _resources(self) -> tuple[Path, Path]:
        resources, config = render(self.directory, bootstrap=self.bootstrap)
        for path in resources.glob("*.yaml"):  # the test app ids are not the services' ones
            docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
            for doc in docs:
                doc.pop("scopes", None)
            path.write_text(yaml.safe_dump_all(docs))
        subscriptions: list[dict[str, Any]] = [
            {
                "apiVersion": "dapr.io/v2alpha1",
                "kind": "Subscription",
                "metadata": {"name": f"s-{n}"},
                "spec": {
                    "pubsubname": pubsub,
                    "topic": topic,
                    "routes": {"default": event_route(topic)},
                    "deadLetterTopic": dead_letter_topic(topic),
                    # The suite's values are plain bytes, not CloudEvents: daprd wraps each in one.
                    "metadata": {"rawPayload": "true"},
                },
            }
            for n, (pubsub, topic) in enumerate(sorted({(s.pubsub, s.topic) for s in self.subscriptions}))
        ]
        (resources / "subscriptions.yaml").write_text(yaml.safe_dump_all(subscriptions))
        return resources, config

    async def start(self) -> None:
        """Topics, the app server, daprd; returns once every subscription delivered a probe message."""
        topics = sorted({s.topic for s in self.subscriptions})
        await KafkaBus(self.bootstrap, client_id="contract-topics", partitions=6).create_topics(topics)
        self._topics.update(topics)
        app = FastAPI()
        app.include_router(dapr_router(self))
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.app_port, log_level="warning", lifespan="off")
        )
        self._serving = asyncio.create_task(self._server.serve())
        while not self._server.started:  # noqa: ASYNC110 - uvicorn offers no event to await
            await asyncio.sleep(0.02)
        resources, config = self._resources()
        command = daprd_command(
            binaries(),
            app_id=self.app_id,
            app_port=self.app_port,
            ports=self.ports,
            resources=resources,
            config=config,
            scheduler=None,
        )
        self.daprd = Process(
            command,
            log=self.directory / "daprd.log",
            health_url=f"{self.base_url}/v1.0/healthz",
            env={"DAPR_API_TOKEN": API_TOKEN, "APP_API_TOKEN": APP_TOKEN, "POD_NAME": uuid.uuid4().hex[:8]},
        )
        await asyncio.to_thread(self.daprd.start, wait_s=60.0)
        await super().start()
        await self._probe(topics)

    async def publish(self, messages: Sequence[Message]) -> None:
        """As DaprBus, after creating the topics (daprd's Kafka component does not)."""
        missing = sorted({m.topic for m in messages} - self._topics)
        if missing:
            await KafkaBus(self.bootstrap, client_id="contract-topics", partitions=6).create_topics(missing)
            self._topics.update(missing)
        await super().publish(messages)

    async def _probe(self, topics: list[str], within: float = 60.0) -> None:
        async with asyncio.timeout(within):
            for topic in topics:
                while not self._probed[topic].is_set():
                    await self.publish([Message(topic, PROBE_KEY, b"probe")])
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._probed[topic].wait(), timeout=1.0)

    async def stop(self) -> None:
        await super().stop()
        if self.daprd is not None:
            await asyncio.to_thread(self.daprd.stop)
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            await self._serving

"""A DaprBus with a real daprd beside it, for the shared bus contract suite.

`SidecarBus.start()` serves the app's Dapr routes on a free port (uvicorn, in the test's event loop, so the
handlers run where the test awaits them), writes the resources daprd loads — the components and resiliency
policy rendered from deploy/k8s/base/dapr, and one Subscription per subscribed topic — and starts daprd on
them. The app id is the consumer group, as in the deployment (one group per app). The suite's values are
plain bytes, so its subscriptions take raw payloads (daprd wraps each in a CloudEvent of its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvicorn
import yaml
from fastapi import FastAPI

from taskstream.devdapr import Process, SidecarPorts, binaries, daprd_command
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

"""The foundation scenario through the real server process: HTTP, WebSocket, reminders, restart."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import websockets

from tests.e2e.server import Server

TZ = "America/New_York"


async def _account(http: httpx.AsyncClient, email: str) -> str:
    r = await http.post(
        "/api/v1/auth/register", json={"email": email, "password": "long enough", "timezone": TZ}
    )
    assert r.status_code == 201, r.text
    r = await http.post("/api/v1/auth/token", data={"username": email, "password": "long enough"})
    return str(r.json()["access_token"])


class Window:
    """One open client: a WebSocket collecting what the server pushes."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.events: list[dict[str, object]] = []

    async def collect(self) -> None:
        async for raw in self.ws:
            self.events.append(json.loads(raw))

    async def wait_for(self, predicate: object, within: float) -> dict[str, object]:
        deadline = asyncio.get_running_loop().time() + within
        while asyncio.get_running_loop().time() < deadline:
            for event in self.events:
                if predicate(event):  # type: ignore[operator]
                    return event
            await asyncio.sleep(0.02)
        raise AssertionError(
            f"no matching event within {within}s; got {[e.get('type') for e in self.events]}"
        )


async def _window(server: Server, token: str, *, via_message: bool) -> Window:
    url = f"ws://127.0.0.1:{server.port}/api/v1/ws" + ("" if via_message else f"?token={token}")
    ws = await websockets.connect(url)
    if via_message:
        await ws.send(json.dumps({"type": "auth", "token": token}))
    ready = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert ready["type"] == "ready"
    return Window(ws)


async def test_foundation_scenario(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as http:
        token = await _account(http, "ada@example.com")
        other = await _account(http, "bob@example.com")
        headers = {"Authorization": f"Bearer {token}"}
        first, second = (
            await _window(server, token, via_message=True),
            await _window(server, token, via_message=False),
        )
        stranger = await _window(server, other, via_message=False)
        readers = [asyncio.create_task(w.collect()) for w in (first, second, stranger)]
        try:
            today = datetime.now(ZoneInfo(TZ)).date()
            tomorrow_9 = datetime.combine(
                today + timedelta(days=1), datetime.min.time(), ZoneInfo(TZ)
            ).replace(hour=9)
            body = {
                "title": "Water plants",
                "due_at": tomorrow_9.isoformat(),
                "recurrence": "FREQ=DAILY;INTERVAL=2",
                "reminders": [{"before": "PT10M"}],
            }
            task = (await http.post("/api/v1/tasks", json=body, headers=headers)).json()
            done = await http.post(f"/api/v1/tasks/{task['id']}/complete", headers=headers)
            assert done.json()["completed"] is True

            def next_occurrence(event: dict[str, Any]) -> bool:
                data = event.get("data") or {}
                return (
                    event.get("type") == "com.taskstream.task.created.v1"
                    and data.get("task_id") != task["id"]
                )

            for window in (first, second):  # a deadline, not a timing: bench/events.py measures latency
                event = await window.wait_for(next_occurrence, within=10.0)
            due = datetime.fromisoformat(event["data"]["task_data"]["due_at"]).astimezone(ZoneInfo(TZ))  # type: ignore[index]
            assert (due.date(), due.hour, due.minute) == (today + timedelta(days=3), 9, 0)

            # A reminder a few seconds ahead reaches both windows of its user, once.
            at = datetime.now(UTC) + timedelta(seconds=2)
            soon = {
                "title": "Stretch",
                "due_at": (at + timedelta(minutes=5)).isoformat(),
                "reminders": [{"at": at.isoformat()}],
            }
            await http.post("/api/v1/tasks", json=soon, headers=headers)

            def reminder(event: dict[str, object]) -> bool:
                return event.get("type") == "com.taskstream.notification.created.v1"

            for window in (first, second):
                note = await window.wait_for(reminder, within=6.0)
                assert note["data"]["title"] == "Stretch"  # type: ignore[index]
            notes = (await http.get("/api/v1/notifications", headers=headers)).json()
            assert [n["title"] for n in notes] == ["Stretch"]
            await asyncio.sleep(0.5)
            assert sum(reminder(e) for e in first.events) == 1

            history = (await http.get(f"/api/v1/tasks/{task['id']}/history", headers=headers)).json()
            assert [e["event_type"] for e in history] == ["completed", "created"]
            assert stranger.events == []
        finally:
            for window in (first, second, stranger):
                await window.ws.close()
            for reader in readers:
                reader.cancel()

        bad_ws = await websockets.connect(f"ws://127.0.0.1:{server.port}/api/v1/ws?token=forged")
        refusal = json.loads(await asyncio.wait_for(bad_ws.recv(), 5))
        assert refusal["type"] == "error"
        await bad_ws.close()

    # Restart: everything is still there.
    server.stop()
    server.start()
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as http:
        r = await http.post(
            "/api/v1/auth/token", data={"username": "ada@example.com", "password": "long enough"}
        )
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        titles = sorted(
            t["title"] for t in (await http.get("/api/v1/tasks", headers=headers)).json()["items"]
        )
        assert titles == ["Stretch", "Water plants", "Water plants"]
        assert (await http.get("/", timeout=5)).status_code == 200

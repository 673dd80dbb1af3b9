"""Live connection in a real browser: a lost WebSocket shows the banner, reconnects and catches up; a reminder
raises a browser notification once the user allowed them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import ZONE, User, expect, open_app

pytestmark = pytest.mark.browser
TZ = ZoneInfo(ZONE)

# Records every browser notification the page raises instead of showing it.
RECORD_NOTIFICATIONS = """
window.shownNotifications = [];
window.Notification = class extends EventTarget {
  static permission = "granted";
  static requestPermission() { return Promise.resolve("granted"); }
  constructor(title, options = {}) {
    super();
    window.shownNotifications.push({ title, body: options.body, tag: options.tag, icon: options.icon });
  }
};
"""


class Outage:
    """Routes the page's WebSocket through Playwright, so a test can cut it and let it back."""

    def __init__(self) -> None:
        self.down = False
        self.links: list[tuple[Any, Any]] = []

    def route(self, ws: Any) -> None:
        if self.down:
            ws.close(code=4000, reason="network down")
            return
        self.links.append((ws, ws.connect_to_server()))

    def cut(self) -> None:
        self.down = True
        for page_side, server_side in self.links:
            page_side.close(code=4000, reason="network down")
            server_side.close()
        self.links.clear()


def test_lost_connection_shows_banner_then_reconnects_and_catches_up(new_context: Any, user: User) -> None:
    context = new_context(as_user=user)
    outage = Outage()
    context.route_web_socket("**/api/v1/ws", outage.route)
    page = open_app(context)
    banner = page.locator("#conn-banner")
    expect(banner).to_be_hidden()

    outage.cut()
    expect(banner).to_be_visible()
    expect(banner).to_have_text("Live updates paused — reconnecting in 1 s…")
    expect(page.locator("body")).to_have_attribute("data-live", "lost")
    with user.api() as api:
        assert api.post("/tasks", json={"title": "Added while offline"}).status_code == 201
    expect(page.locator("#task-list .task")).to_have_count(0)  # no live event can reach the page

    outage.down = False
    expect(banner).to_be_hidden(timeout=10_000)
    expect(page.locator("body")).to_have_attribute("data-live", "open")
    expect(page.locator("#task-list .task-title")).to_have_text(["Added while offline"])


def test_reminder_raises_a_browser_notification_when_allowed(new_context: Any, user: User) -> None:
    context = new_context(as_user=user)
    context.grant_permissions(["notifications"])
    context.add_init_script(RECORD_NOTIFICATIONS)
    page = open_app(context)
    now = datetime.now(TZ)
    due = now + timedelta(hours=2)
    with user.api() as api:
        body = {
            "title": "Pack gym bag",
            "due_at": due.isoformat(),
            "reminders": [{"at": (now + timedelta(seconds=3)).isoformat()}],
        }
        assert api.post("/tasks", json=body).status_code == 201

    expect(page.get_by_test_id("reminder-toast")).to_be_visible(timeout=15_000)
    with user.api() as api:
        (note,) = api.get("/notifications").json()
    label = "Today" if due.date() == now.date() else "Tomorrow"
    assert page.evaluate("window.shownNotifications") == [
        {
            "title": "Reminder: Pack gym bag",
            "body": f"Due {label}, {due.strftime('%H:%M')}",
            "tag": note["id"],
            "icon": "/static/icon.svg",
        }
    ]


def test_a_delete_reaches_other_windows_at_once_and_undo_brings_the_same_task_back(
    new_context: Any, user: User
) -> None:
    with user.api() as api:
        day = datetime.now(TZ).date()
        kept = api.post("/tasks", json={"title": "Buy milk", "tags": ["home"], "due_date": str(day)}).json()
        later = str(day + timedelta(days=1))
        task = api.post("/tasks", json={"title": "Fix the gate", "tags": ["home"], "due_date": later}).json()
    first = open_app(new_context(as_user=user))
    second = open_app(new_context(as_user=user))
    titles = second.locator("#task-list .task-title")
    home = second.locator('#tag-views a[data-view="tag:home"] .view-count')
    expect(titles).to_have_text(["Buy milk", "Fix the gate"])
    expect(home).to_have_text("2")

    requests: list[str] = []

    def record(request: Any) -> None:
        if "/api/v1/" in request.url:
            requests.append(f"{request.method} {request.url.split('/api/v1')[-1]}")

    second.on("request", record)
    first.get_by_role("button", name="Fix the gate", exact=True).focus()
    first.keyboard.press("Delete")
    expect(first.get_by_test_id("undo-toast")).to_contain_text("Deleted “Fix the gate”")
    # The other window follows well before the 6 s the Undo toast stays up, with one list and one count.
    expect(titles).to_have_text(["Buy milk"], timeout=3_000)
    expect(home).to_have_text("1", timeout=3_000)
    second.wait_for_load_state("networkidle")
    assert sorted(requests) == ["GET /tasks?sort=due&completed=false&limit=100", "POST /counts"], requests

    first.get_by_test_id("undo-toast").get_by_role("button", name="Undo").click()
    expect(first.locator("#task-list .task-title")).to_have_text(["Buy milk", "Fix the gate"])
    expect(titles).to_have_text(["Buy milk", "Fix the gate"], timeout=3_000)
    expect(home).to_have_text("2")
    with user.api() as api:
        ids = [t["id"] for t in api.get("/tasks").json()["items"]]
        assert ids == [kept["id"], task["id"]]  # the same task, not a copy

    # Its history says what happened, in the edit panel of the other window.
    second.get_by_role("button", name="Fix the gate", exact=True).focus()
    second.keyboard.press("h")
    entries = second.get_by_role("list", name="History entries").locator("li")
    expect(entries.first).to_contain_text("Restored")
    expect(entries).to_have_count(3)

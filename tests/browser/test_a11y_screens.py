"""Accessibility (axe-core in the page: no serious or critical violations) and screenshots of the main views
at desktop and phone sizes, light and dark; with TASKSTREAM_UPDATE_SCREENSHOT=1 one desktop shot replaces
docs/screenshot.png for the README (otherwise the checkout is left as it was)."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import (
    AXE,
    DESKTOP,
    PHONE,
    ROOT,
    ZONE,
    User,
    expect,
    open_app,
    require,
    screenshot,
)

pytestmark = pytest.mark.browser
TZ = ZoneInfo(ZONE)


def axe_violations(page: Any) -> list[str]:
    """Run axe-core (WCAG 2 A/AA rules) on the page; the serious and critical violations, described."""
    if page.evaluate("typeof window.axe") == "undefined":
        page.add_script_tag(path=str(AXE))
    rules = "{runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa', 'best-practice']}}"
    result = page.evaluate(f"async () => (await axe.run(document, {rules})).violations")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in result
        if v["impact"] in ("serious", "critical")
    ]


def seed(user: User) -> None:
    now = datetime.now(TZ)
    today = now.date()
    # Upcoming (the next 7 days) shows three days whatever the date: today, tomorrow and rent day.
    rent_day = today + timedelta(days=3)
    at_nine = lambda day: datetime(day.year, day.month, day.day, 9, tzinfo=TZ).isoformat()  # noqa: E731
    tasks = [
        {
            "title": "Water plants",
            "due_at": at_nine(today + timedelta(days=1)),
            "recurrence": "FREQ=DAILY;INTERVAL=2",
            "reminders": [{"before": "PT10M"}],
            "tags": ["home"],
        },
        {
            "title": "Pay rent",
            "due_date": rent_day.isoformat(),
            "priority": "high",
            "recurrence": "FREQ=MONTHLY",
            "tags": ["bills"],
        },
        {
            "title": "Send the quarterly report",
            "due_date": (today - timedelta(days=1)).isoformat(),
            "priority": "urgent",
            "tags": ["work"],
            "description": "Numbers from finance, charts from the dashboard.",
        },
        {
            "title": "Call the dentist",
            "due_date": today.isoformat(),
            "priority": "medium",
            "tags": ["health"],
        },
        {"title": "Read the Kafka paper", "priority": "low", "tags": ["reading"]},
    ]
    with user.api() as api:
        for task in tasks:
            assert api.post("/tasks", json=task).status_code == 201


@pytest.fixture
def axe_file() -> None:
    require(None if AXE.exists() else f"axe-core missing at {AXE}: run `npm ci --prefix tests/browser`")


@pytest.mark.usefixtures("axe_file")
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_serious_accessibility_violations(new_context: Any, user: User, scheme: str) -> None:
    signin = new_context(color_scheme=scheme).new_page()
    signin.goto("/")
    expect(signin.get_by_role("button", name="Sign in")).to_be_visible()
    assert axe_violations(signin) == []

    seed(user)
    page = open_app(new_context(as_user=user, color_scheme=scheme), "/?due=upcoming")
    expect(page.locator("#task-list .task")).to_have_count(3)
    assert axe_violations(page) == []
    page.goto("/")
    page.wait_for_selector("body[data-ready=true]")
    expect(page.locator("#task-list .task")).to_have_count(5)
    page.get_by_label("Quick add").fill("Pay rent every month on the 1st 9am !high #bills remind 1d before")
    expect(page.get_by_test_id("quick-preview")).to_be_visible()
    assert axe_violations(page) == []
    page.get_by_role("button", name="Water plants").click()
    expect(page.get_by_role("dialog", name="Edit task")).to_be_visible()
    assert axe_violations(page) == []


def test_screenshots_of_main_views(new_context: Any, user: User) -> None:
    seed(user)
    for scheme in ("light", "dark"):
        suffix = "" if scheme == "light" else "-dark"
        desk = open_app(new_context(as_user=user, viewport=DESKTOP, color_scheme=scheme))
        expect(desk.locator("#task-list .task")).to_have_count(5)
        expect(desk.locator('a[data-view="inbox"] .view-count')).to_have_text("5")
        shot = screenshot(desk, f"desktop-inbox{suffix}")
        assert shot.stat().st_size > 10_000
        if scheme == "light" and os.environ.get("TASKSTREAM_UPDATE_SCREENSHOT") == "1":
            shutil.copyfile(shot, ROOT / "docs" / "screenshot.png")
        desk.get_by_role("navigation", name="Views").get_by_role("link", name="Upcoming").click()
        expect(desk.locator(".group-heading")).to_have_count(8)  # today and the 7 days after it
        screenshot(desk, f"desktop-upcoming{suffix}")
        desk.get_by_role("button", name="Water plants").click()
        expect(desk.get_by_role("dialog", name="Edit task")).to_be_visible()
        screenshot(desk, f"desktop-task-dialog{suffix}")

        phone = open_app(
            new_context(as_user=user, viewport=PHONE, color_scheme=scheme, is_mobile=True, has_touch=True)
        )
        expect(phone.locator("#task-list .task")).to_have_count(5)
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the phone layout scrolls sideways ({width}px wide)"
        screenshot(phone, f"phone-inbox{suffix}")
        phone.get_by_role("button", name="Pay rent").click()
        expect(phone.get_by_role("dialog", name="Edit task")).to_be_visible()
        screenshot(phone, f"phone-task-dialog{suffix}")

    signin = new_context(viewport=PHONE, is_mobile=True).new_page()
    signin.goto("/")
    expect(signin.get_by_role("button", name="Sign in")).to_be_visible()
    screenshot(signin, "phone-sign-in")

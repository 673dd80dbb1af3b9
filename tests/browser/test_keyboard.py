"""Keyboard-only use, the recurrence editor on an existing task, and live updates that keep what is typed."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import ZONE, User, expect, open_app, short

pytestmark = pytest.mark.browser
TZ = ZoneInfo(ZONE)


def stored_titles(user: User, expected: list[str], within_s: float = 5.0) -> None:
    """Wait (polling, with a deadline) until the server's open tasks have these titles."""
    deadline = time.monotonic() + within_s
    with user.api() as api:
        while True:
            titles = [t["title"] for t in api.get("/tasks").json()["items"]]
            if titles == expected or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert titles == expected


def test_keyboard_only_add_move_complete_edit_delete_undo(new_context: Any, user: User) -> None:
    page = open_app(new_context(as_user=user), "/?sort=created")
    page.locator("body").press("a")
    expect(page.get_by_label("Quick add")).to_be_focused()
    page.keyboard.type("Buy milk")
    page.keyboard.press("Enter")
    expect(page.locator("#task-list .task")).to_have_count(1)
    page.keyboard.type("Call the bank")
    page.keyboard.press("Enter")
    expect(page.locator("#task-list .task")).to_have_count(2)
    page.keyboard.press("Escape")

    titles = page.locator("#task-list .task-title")
    expect(titles).to_have_text(["Buy milk", "Call the bank"])
    page.keyboard.press("j")
    expect(page.locator("#task-list .task-title:focus")).to_have_text("Buy milk")
    page.keyboard.press("j")
    expect(page.locator("#task-list .task-title:focus")).to_have_text("Call the bank")
    page.keyboard.press("k")
    expect(page.locator("#task-list .task-title:focus")).to_have_text("Buy milk")

    page.keyboard.press("x")
    expect(titles).to_have_text(["Call the bank"])
    expect(page.locator("#toasts")).to_contain_text("Completed “Buy milk”")
    page.keyboard.press("u")
    expect(titles).to_have_text(["Buy milk", "Call the bank"])
    with user.api() as api:
        assert [t["completed"] for t in api.get("/tasks").json()["items"]] == [False, False]

    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(page.locator("#task-list .task-title:focus")).to_have_text("Call the bank")
    page.keyboard.press("e")
    dialog = page.get_by_role("dialog", name="Edit task")
    expect(dialog.get_by_label("Title", exact=True)).to_be_focused()
    page.keyboard.press("Control+a")
    page.keyboard.type("Call the bank about the card")
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(titles).to_have_text(["Buy milk", "Call the bank about the card"])
    expect(page.locator("#task-list .task-title:focus")).to_have_text("Call the bank about the card")

    page.keyboard.press("Delete")
    expect(titles).to_have_text(["Buy milk"])
    expect(page.get_by_test_id("undo-toast")).to_contain_text("Deleted “Call the bank about the card”")
    stored_titles(user, ["Buy milk"], within_s=3)  # sent at once, not when the 6 s toast goes
    page.keyboard.press("u")
    expect(titles).to_have_text(["Buy milk", "Call the bank about the card"])
    expect(page.locator("#task-list .task-title:focus")).to_have_text("Call the bank about the card")
    page.keyboard.press("#")
    expect(titles).to_have_text(["Buy milk"])
    stored_titles(user, ["Buy milk"])

    page.keyboard.press("?")
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()
    page.keyboard.press("/")
    expect(page.get_by_label("Search tasks")).to_be_focused()
    page.keyboard.type("milk")
    expect(page).to_have_url("/?q=milk&sort=created")
    page.keyboard.press("Escape")
    page.keyboard.press("g")
    page.keyboard.press("d")
    expect(page.locator("#view-title")).to_have_text("Completed")


def test_recurrence_editor_builds_rules_in_words(new_context: Any, user: User) -> None:
    today = datetime.now(TZ).date()
    monday = today + timedelta(days=(7 - today.weekday()) % 7 or 7)
    with user.api() as api:
        body = {
            "title": "Team meeting",
            "due_at": datetime(monday.year, monday.month, monday.day, 10, tzinfo=TZ).isoformat(),
        }
        task_id = api.post("/tasks", json=body).json()["id"]
    page = open_app(new_context(as_user=user))
    page.get_by_role("button", name="Team meeting").click()
    dialog = page.get_by_role("dialog", name="Edit task")
    dialog.get_by_label("Repeats", exact=True).select_option("WEEKLY")
    expect(dialog.get_by_label("Mon", exact=True)).to_be_checked()  # the due date's weekday is chosen for you
    dialog.get_by_label("Wed", exact=True).check()
    dialog.get_by_label("Ends after").check()
    dialog.get_by_label("Number of occurrences").fill("5")
    expect(dialog.get_by_test_id("rrule")).to_have_text("FREQ=WEEKLY;BYDAY=MO,WE;COUNT=5")
    expect(dialog.get_by_test_id("recurrence-words")).to_have_text(  # the server's words and dates
        "every week on Monday and Wednesday, 5 times"
    )

    expect(dialog.get_by_test_id("recurrence-next")).to_have_text(
        f"Next: {short(monday)}, {short(monday + timedelta(days=2))}, {short(monday + timedelta(days=7))}"
    )
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    with user.api() as api:
        task = api.get(f"/tasks/{task_id}").json()
    assert (task["recurrence"], task["repeat_from"]) == ("FREQ=WEEKLY;BYDAY=MO,WE;COUNT=5", "due")

    page.get_by_role("button", name="Team meeting").click()
    fold = dialog.locator("details.recurrence > summary")
    expect(fold).to_contain_text("every week on Monday and Wednesday, 5 times")  # folded to its words
    expect(dialog.get_by_label("Repeats", exact=True)).to_be_hidden()
    fold.click()
    expect(dialog.get_by_label("Wed", exact=True)).to_be_checked()
    expect(dialog.get_by_label("Number of occurrences")).to_have_value("5")
    dialog.get_by_label("Repeats", exact=True).select_option("MONTHLY")
    dialog.get_by_label("On the", exact=True).check()
    dialog.get_by_label("Which week").select_option("-1")
    dialog.get_by_label("Weekday").select_option("FR")
    dialog.get_by_label("Repeat from completion").check()
    expect(dialog.get_by_label("Ends after")).to_be_disabled()
    expect(dialog.get_by_label("Ends never")).to_be_checked()
    expect(dialog.get_by_test_id("rrule")).to_have_text("FREQ=MONTHLY;BYDAY=-1FR")
    expect(dialog.get_by_test_id("recurrence-words")).to_have_text(
        "monthly on the last Friday, counted from completion"
    )
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    with user.api() as api:
        task = api.get(f"/tasks/{task_id}").json()
    assert (task["recurrence"], task["repeat_from"]) == ("FREQ=MONTHLY;BYDAY=-1FR", "completion")
    meeting = page.locator("#task-list .task", has=page.get_by_role("button", name="Team meeting"))
    expect(meeting.locator(".repeat")).to_have_text("↻ monthly on the last Friday, counted from completion")

    # A rule the controls cannot build is previewed too, and a rule the server rejects shows its reason.
    page.get_by_role("button", name="Team meeting").click()
    dialog.get_by_label("Due date", exact=True).fill("2031-01-10")
    fold.click()
    dialog.get_by_label("Repeat from the due date").check()
    dialog.get_by_label("Repeats", exact=True).select_option("custom")
    dialog.get_by_label("RRULE", exact=True).fill("FREQ=YEARLY;BYMONTH=3,9;BYMONTHDAY=15")
    expect(dialog.get_by_test_id("rrule")).to_have_text("FREQ=YEARLY;BYMONTH=3,9;BYMONTHDAY=15")
    words = dialog.get_by_test_id("recurrence-words")
    expect(words).to_have_text("yearly on the 15th in March and September")
    expect(dialog.get_by_test_id("recurrence-next")).to_have_text("Next: Fri 10 Jan, Sat 15 Mar, Mon 15 Sep")
    expect(dialog.get_by_test_id("recurrence-error")).to_be_hidden()
    dialog.get_by_label("RRULE", exact=True).fill("FREQ=HOURLY")
    expect(dialog.get_by_test_id("recurrence-error")).to_have_text(
        "FREQ=HOURLY is not supported; the shortest repeat is FREQ=DAILY"
    )
    expect(dialog.get_by_label("RRULE", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(words).to_have_text("")
    dialog.get_by_role("button", name="Cancel").click()


def test_live_changes_keep_what_the_user_is_typing(new_context: Any, user: User) -> None:
    with user.api() as api:
        task_id = api.post("/tasks", json={"title": "Draft budget"}).json()["id"]
    page = open_app(new_context(as_user=user), "/?sort=title")
    page.get_by_label("Quick add").fill("Half-typed thought")
    page.get_by_role("button", name="Draft budget").click()
    dialog = page.get_by_role("dialog", name="Edit task")
    dialog.get_by_label("Description", exact=True).fill("My unsaved notes")
    with user.api() as api:
        api.patch(f"/tasks/{task_id}", json={"title": "Draft budget v2"}, headers={"If-Match": '"1"'})
        api.post("/tasks", json={"title": "Arrived from elsewhere"})
    expect(dialog.locator(".notice")).to_contain_text("This task was changed in another window.")
    expect(dialog.get_by_label("Description", exact=True)).to_have_value("My unsaved notes")
    expect(dialog.get_by_label("Title", exact=True)).to_have_value("Draft budget")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.get_by_role("alert")).to_contain_text("changed in another window after you opened it")
    dialog.get_by_role("button", name="Load the latest").click()
    expect(dialog.get_by_label("Title", exact=True)).to_have_value("Draft budget v2")
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.locator("#task-list .task-title")).to_have_text(["Arrived from elsewhere", "Draft budget v2"])
    expect(page.get_by_label("Quick add")).to_have_value("Half-typed thought")


def test_focus_returns_after_dialogs_and_history_and_today_rows_show_only_the_time(
    new_context: Any, user: User
) -> None:
    now = datetime.now(TZ)
    soon = (now + timedelta(minutes=5)).replace(second=0, microsecond=0)
    if soon.date() != now.date():
        pytest.skip("too close to midnight for a task due later today")
    with user.api() as api:
        api.post(
            "/tasks", json={"title": "Later today", "due_at": soon.isoformat(), "timezone": ZONE}
        ).raise_for_status()
    page = open_app(new_context(as_user=user))
    row = page.locator("#task-list .task", has=page.get_by_role("button", name="Later today", exact=True))
    # The "Today" badge names the day, so the due shows only the time.
    expect(row.locator(".badge.today")).to_have_text("Today")
    expect(row.get_by_test_id("due")).to_have_text(f"Due {soon.strftime('%H:%M')}")

    # Closing the dialog returns focus to what opened it.
    more = page.get_by_role("button", name="More options…")
    more.click()
    dialog = page.get_by_role("dialog", name="New task")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(more).to_be_focused()

    # "h" opens the selected task with its history shown, newest first, with who did it.
    page.keyboard.press("j")
    expect(page.locator("#task-list .task-title:focus")).to_have_text("Later today")
    page.keyboard.press("h")
    edit = page.get_by_role("dialog", name="Edit task")
    entries = edit.get_by_role("list", name="History entries").get_by_role("listitem")
    expect(entries).to_have_count(1)
    expect(entries.nth(0)).to_contain_text("Created")
    expect(entries.nth(0)).to_contain_text("by you")
    page.keyboard.press("Escape")
    expect(edit).to_be_hidden()
    expect(page.locator("#task-list .task-title:focus")).to_have_text("Later today")

    # "b" opens the notifications panel.
    page.keyboard.press("b")
    expect(page.locator("#notif-panel")).to_be_visible()

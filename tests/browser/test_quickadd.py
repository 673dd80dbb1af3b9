"""Quick add: each example phrase shows what was understood before Enter, and Enter saves exactly that."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import ZONE, User, expect, open_app, short

pytestmark = pytest.mark.browser
TZ = ZoneInfo(ZONE)


def relative(day: date, today: date) -> str:
    """The UI's relative day: Today, Tomorrow, Yesterday, or "Wed 2 Dec" (plus the year if not this year)."""
    words = {0: "Today", 1: "Tomorrow", -1: "Yesterday"}
    label = words.get((day - today).days)
    if label:
        return label
    return short(day) if day.year == today.year else f"{short(day)} {day.year}"


def preview(page: Any) -> dict[str, str]:
    box = page.get_by_test_id("quick-preview")
    keys = box.locator(".pv").evaluate_all(
        "rows => rows.map(r => [r.dataset.key, r.querySelector('dd').textContent])"
    )
    return dict(keys)


TITLES = {
    "Pay rent every month on the 1st 9am !high #bills remind 1d before": "Pay rent",
    "Water plants tomorrow 9am every 2 days": "Water plants",
    "Submit report next monday 5pm !urgent remind 2h before": "Submit report",
    "Team sync every weekday at 10:00 #work": "Team sync",
    "Call mom friday": "Call mom",
}
PHRASES = list(TITLES)


def test_quick_add_phrases_preview_then_save(new_context: Any, user: User) -> None:
    page = open_app(new_context(as_user=user))
    box = page.get_by_label("Quick add")
    shown: dict[str, dict[str, str]] = {}
    for phrase in PHRASES:
        box.fill(phrase)
        expect(page.get_by_test_id("quick-preview").locator('[data-key="title"] dd')).to_have_text(
            TITLES[phrase]
        )
        expect(page.get_by_test_id("quick-preview")).not_to_have_attribute("aria-busy", "true")
        shown[phrase] = preview(page)
        box.press("Enter")
        expect(box).to_have_value("")
        expect(box).to_be_focused()
    expect(page.locator("#task-list .task")).to_have_count(len(PHRASES))

    with user.api() as api:
        saved = {t["title"]: t for t in api.get("/tasks", params={"limit": 50}).json()["items"]}
    now = datetime.now(TZ)
    today = now.date()

    def local(task: dict[str, Any]) -> datetime:
        return datetime.fromisoformat(task["due_at"]).astimezone(TZ)

    rent = saved["Pay rent"]
    due = local(rent)
    assert (due.day, due.hour, due.minute) == (1, 9, 0) and 0 <= (due.date() - today).days <= 31
    assert (rent["recurrence"], rent["priority"], rent["tags"]) == (
        "FREQ=MONTHLY;BYMONTHDAY=1",
        "high",
        ["bills"],
    )
    assert [r["before"] for r in rent["reminders"]] == ["P1D"]
    months = [due.date()]
    for _ in range(2):
        last = months[-1]
        months.append(date(last.year + last.month // 12, last.month % 12 + 1, 1))
    assert shown[PHRASES[0]] == {
        "title": "Pay rent",
        "due": f"{relative(due.date(), today)}, 09:00",
        "repeats": "monthly on the 1st",  # the server's words and dates
        "next": " · ".join(f"{short(d)}, 09:00" for d in months),
        "priority": "High",
        "tags": "#bills",
        "reminders": "1 day before",
    }

    water = saved["Water plants"]
    tomorrow = today + timedelta(days=1)
    assert (local(water).date(), local(water).hour, water["recurrence"]) == (
        tomorrow,
        9,
        "FREQ=DAILY;INTERVAL=2",
    )
    assert shown[PHRASES[1]] == {
        "title": "Water plants",
        "due": "Tomorrow, 09:00",
        "repeats": "every 2 days",
        "next": " · ".join(f"{short(tomorrow + timedelta(days=n))}, 09:00" for n in (0, 2, 4)),
    }

    report = saved["Submit report"]
    monday = local(report).date()
    assert monday.weekday() == 0 and 1 <= (monday - today).days <= 14 and local(report).hour == 17
    assert (report["priority"], [r["before"] for r in report["reminders"]]) == ("urgent", ["PT2H"])
    assert shown[PHRASES[2]] == {
        "title": "Submit report",
        "due": f"{relative(monday, today)}, 17:00",
        "priority": "Urgent",
        "reminders": "2 hours before",
    }

    sync = saved["Team sync"]
    assert (sync["recurrence"], sync["tags"], local(sync).hour) == (
        "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
        ["work"],
        10,
    )
    assert shown[PHRASES[3]]["repeats"] == "every weekday"
    assert shown[PHRASES[3]]["tags"] == "#work"
    assert shown[PHRASES[3]]["due"] == f"{relative(local(sync).date(), today)}, 10:00"

    call = saved["Call mom"]
    friday = date.fromisoformat(call["due_date"])
    assert call["due_at"] is None and friday.weekday() == 4 and 0 <= (friday - today).days <= 7
    assert shown[PHRASES[4]] == {"title": "Call mom", "due": relative(friday, today)}


def test_quick_add_more_options_opens_the_form_filled_in(new_context: Any, user: User) -> None:
    page = open_app(new_context(as_user=user))
    page.get_by_label("Quick add").fill("Water plants tomorrow 9am every 2 days !low #garden")
    expect(page.get_by_test_id("quick-preview").locator('[data-key="tags"] dd')).to_have_text("#garden")
    page.get_by_role("button", name="More options…").click()
    dialog = page.get_by_role("dialog", name="New task")
    expect(dialog.get_by_label("Title", exact=True)).to_have_value("Water plants")
    tomorrow = datetime.now(TZ).date() + timedelta(days=1)
    expect(dialog.get_by_label("Due date", exact=True)).to_have_value(tomorrow.strftime("%d/%m/%Y"))  # en-GB
    expect(dialog.get_by_label("Due time", exact=True)).to_have_value("09:00")
    expect(dialog.get_by_label("Priority", exact=True)).to_have_value("low")
    expect(dialog.get_by_label("Tags", exact=True)).to_have_value("garden")
    expect(dialog.get_by_test_id("rrule")).to_have_text("FREQ=DAILY;INTERVAL=2")


def test_numeric_dates_are_read_in_the_users_order_and_the_preview_says_how(
    new_context: Any, user: User
) -> None:
    page = open_app(new_context(as_user=user))  # an en-GB browser: day first
    with user.api() as api:
        assert api.get("/me").json()["date_order"] == "DMY"  # taken from the browser on first use
    today = datetime.now(TZ).date()
    ahead = today + timedelta(days=40)  # a day and month that read differently either way round
    while ahead.day == ahead.month or ahead.day > 12:
        ahead += timedelta(days=1)
    written = f"{ahead.day}/{ahead.month}"
    swapped = date(today.year, ahead.day, ahead.month)
    if swapped < today:
        swapped = swapped.replace(year=today.year + 1)
    box = page.get_by_label("Quick add")
    due = page.get_by_test_id("quick-preview").locator('[data-key="due"] dd')

    box.fill(f"Dentist {written} 2pm")
    expect(due).to_have_text(f"{relative(ahead, today)}, 14:00 (“{written}” read day first (31/12))")

    page.get_by_role("button", name="Settings").click()
    dialog = page.get_by_role("dialog", name="Settings")
    expect(dialog.get_by_label("Time zone")).to_have_value(ZONE)
    dialog.get_by_label("Numeric dates").select_option("MDY")
    dialog.get_by_role("button", name="Save preferences").click()
    expect(page.get_by_test_id("prefs-saved")).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    box.fill(f"Dentist {written} 3pm")
    expect(due).to_have_text(f"{relative(swapped, today)}, 15:00 (“{written}” read month first (12/31))")
    box.press("Enter")
    expect(box).to_have_value("")
    with user.api() as api:
        [task] = api.get("/tasks").json()["items"]
    local = datetime.fromisoformat(task["due_at"]).astimezone(TZ)
    assert (task["title"], local.date(), local.hour) == ("Dentist", swapped, 15)
    page.get_by_role("button", name="Dentist", exact=True).click()  # the editor writes dates month first too
    expect(page.get_by_role("dialog", name="Edit task").get_by_label("Due date", exact=True)).to_have_value(
        swapped.strftime("%m/%d/%Y")
    )


def test_the_preview_reads_end_of_month_and_quarters_and_lists_what_it_did_not_understand(
    new_context: Any, user: User
) -> None:
    page = open_app(new_context(as_user=user))
    box = page.get_by_label("Quick add")
    rows = page.get_by_test_id("quick-preview")
    today = datetime.now(TZ).date()
    month_end = (today.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)

    box.fill("Invoice end of month")
    expect(rows.locator('[data-key="title"] dd')).to_have_text("Invoice")
    expect(rows.locator('[data-key="due"] dd')).to_have_text(relative(month_end, today))
    box.fill("Quarterly review every quarter")
    expect(rows.locator('[data-key="title"] dd')).to_have_text("Quarterly review")
    expect(rows.locator('[data-key="repeats"] dd')).to_have_text("every 3 months")
    box.fill("Ship by end of decade")
    expect(rows.locator('[data-key="unparsed"] dd')).to_have_text("by end of decade")
    expect(rows.locator('[data-key="title"] dd')).to_have_text("Ship by end of decade")

    # The time of day all-day reminders count from is a setting.
    page.get_by_role("button", name="Settings").click()
    dialog = page.get_by_role("dialog", name="Settings")
    field = dialog.get_by_label("Reminders of all-day tasks at")
    expect(field).to_have_value("09:00")
    field.fill("7.30 am")
    dialog.get_by_role("button", name="Save preferences").click()
    expect(page.get_by_test_id("prefs-saved")).to_be_visible()
    expect(field).to_have_value("07:30")  # written back in the browser's clock
    with user.api() as api:
        assert api.get("/me").json()["all_day_reminder_time"] == "07:30"

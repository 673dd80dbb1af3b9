"""A table of quick-add phrases and what each must give: the title left once the date words are taken, and
the due date (all day) or local due time, read on Tuesday 10 June 2025 at 15:00 in Berlin."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from taskstream.domain.nlparse import parse_quick_add

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2025, 6, 10, 15, 0, tzinfo=BERLIN)  # a Tuesday afternoon
EVENING_PASSED = datetime(2025, 6, 10, 20, 0, tzinfo=BERLIN)

# The next date of each weekday after Tuesday 10 June 2025 (a weekday name never means today).
NEXT = {"mon": "2025-06-16", "tue": "2025-06-17", "wed": "2025-06-11", "thu": "2025-06-12"}
NEXT |= {"fri": "2025-06-13", "sat": "2025-06-14", "sun": "2025-06-15"}
WEEKDAY_WORDS = {
    "monday": "mon",
    "mon": "mon",
    "tuesday": "tue",
    "tue": "tue",
    "tues": "tue",
    "wednesday": "wed",
    "thursday": "thu",
    "thu": "thu",
    "thur": "thu",
    "thurs": "thu",
    "friday": "fri",
    "fri": "fri",
    "saturday": "sat",
    "sunday": "sun",
}
WEEKDAY_ROWS = [
    row
    for word, day in WEEKDAY_WORDS.items()
    for row in (
        (f"Call Anna {word}", "Call Anna", NEXT[day]),
        (f"Call Anna {word} 5pm", "Call Anna", f"{NEXT[day]} 17:00"),
        (f"Call Anna on {word}", "Call Anna", NEXT[day]),
        (f"Call Anna {word} at 9:30", "Call Anna", f"{NEXT[day]} 09:30"),
    )
]
ROWS = [
    # what a new user typed
    ("Write report friday 5pm", "Write report", "2025-06-13 17:00"),
    ("Café meeting thursday 3pm", "Café meeting", "2025-06-12 15:00"),
    ("Report fri", "Report", "2025-06-13"),
    ("Review thu 9", "Review", "2025-06-12 09:00"),
    ("Email Bob fri 9", "Email Bob", "2025-06-13 09:00"),
    ("Call mom tonight", "Call mom", "2025-06-10 19:00"),
    ("Call mom this evening", "Call mom", "2025-06-10 19:00"),
    ("Dinner tonight at 8", "Dinner", "2025-06-10 20:00"),
    ("Dinner tonight 9pm", "Dinner", "2025-06-10 21:00"),
    ("Movie this evening 8:30", "Movie", "2025-06-10 20:30"),
    ("Fix the leak yesterday", "Fix the leak", "2025-06-09"),
    # words that look like dates but are the title
    ("Pay yesterday's invoice", "Pay yesterday's invoice", None),
    ("Review today's notes", "Review today's notes", None),
    ("Sit in the sun", "Sit in the sun", None),
    ("Lunch wed", "Lunch wed", None),
    ("Buy a sat nav", "Buy a sat nav", None),
    ("Wedding planning", "Wedding planning", None),
    ("Friday notes", "Friday notes", None),
    ("Monday blues playlist", "Monday blues playlist", None),
    ("March report", "March report", None),
    ("Read book", "Read book", None),
    # abbreviations that are also words, with a time after them
    ("Lunch wed 12:30", "Lunch", "2025-06-11 12:30"),
    ("Gym sat 10am", "Gym", "2025-06-14 10:00"),
    ("Hike sun 7am", "Hike", "2025-06-15 07:00"),
    # relative days
    ("Buy milk today", "Buy milk", "2025-06-10"),
    ("Buy milk tomorrow", "Buy milk", "2025-06-11"),
    ("Buy milk tomorrow 8am", "Buy milk", "2025-06-11 08:00"),
    ("Standup tomorrow at 9:15", "Standup", "2025-06-11 09:15"),
    ("Lunch tomorrow noon", "Lunch", "2025-06-11 12:00"),
    ("Buy milk day after tomorrow", "Buy milk", "2025-06-12"),
    ("Submit due tomorrow", "Submit", "2025-06-11"),
    ("Submit by friday", "Submit", "2025-06-13"),
    ("Report next friday", "Report", "2025-06-13"),
    ("Report this friday", "Report", "2025-06-13"),
    ("Dentist in 3 days", "Dentist", "2025-06-13"),
    ("Dentist in two weeks", "Dentist", "2025-06-24"),
    ("Call back in 2 hours", "Call back", "2025-06-10 17:00"),
    ("Call back in 30 minutes", "Call back", "2025-06-10 15:30"),
    # calendar dates
    ("Tax return 15 june", "Tax return", "2025-06-15"),
    ("Tax return june 15th", "Tax return", "2025-06-15"),
    ("Tax return 2025-07-01", "Tax return", "2025-07-01"),
    ("Party 1 july 2026", "Party", "2026-07-01"),
    ("Pay rent on 1 july", "Pay rent", "2025-07-01"),
    ("Flight 3 july 6am", "Flight", "2025-07-03 06:00"),
    # a time alone: today if still ahead, else tomorrow
    ("Meeting 4pm", "Meeting", "2025-06-10 16:00"),
    ("Meeting at 18:30", "Meeting", "2025-06-10 18:30"),
    ("Meeting 9am", "Meeting", "2025-06-11 09:00"),
    ("Meeting noon", "Meeting", "2025-06-11 12:00"),
    *WEEKDAY_ROWS,
]


def _due(text: str, now: datetime = NOW) -> tuple[str, str | None]:
    task = parse_quick_add(text, now=now, tz="Europe/Berlin")
    if task.due_at is not None:
        return task.title, task.due_at.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M")
    return task.title, task.due_date.isoformat() if task.due_date else None


def test_the_table_has_a_hundred_phrases() -> None:
    assert len(ROWS) >= 100


@pytest.mark.parametrize(("text", "title", "due"), ROWS, ids=[row[0] for row in ROWS])
def test_each_phrase_gives_its_title_and_due(text: str, title: str, due: str | None) -> None:
    assert _due(text) == (title, due)


def test_tonight_after_seven_is_today_all_day_and_a_time_still_counts() -> None:
    assert _due("Call mom tonight", EVENING_PASSED) == ("Call mom", "2025-06-10")
    assert _due("Call mom tonight at 9", EVENING_PASSED) == ("Call mom", "2025-06-10 21:00")


def test_a_date_after_at_is_still_the_date() -> None:
    """ "at 15" could start a time: read before the time, it is the date it begins ("at 15 june")."""
    assert _due("Party at 15 june")[1] == "2025-06-15"
    assert _due("Meet at 3 july 9am")[1] == "2025-07-03 09:00"


# Numeric dates, read in the user's order of day, month and year (a setting; quick add reads DMY without one).
NUMERIC_ROWS = [
    ("Dentist 10/12 2pm", "DMY", "Dentist", "2025-12-10 14:00"),
    ("Dentist 10/12 2pm", "MDY", "Dentist", "2025-10-12 14:00"),
    ("Dentist 10/12 2pm", "YMD", "Dentist", "2025-10-12 14:00"),
    ("Report due 5/6", "DMY", "Report", "2026-06-05"),  # 5 June has passed this year: next year's
    ("Report due 6/5", "MDY", "Report", "2026-06-05"),
    ("Taxes 10/6", "DMY", "Taxes", "2025-06-10"),  # today counts
    ("Flight 24/12/2025 7am", "DMY", "Flight", "2025-12-24 07:00"),
    ("Flight 12/24/25 7am", "MDY", "Flight", "2025-12-24 07:00"),
    ("Flight 2025/12/24", "DMY", "Flight", "2025-12-24"),  # four digits first: always the year
    ("Flight 25/12/24", "YMD", "Flight", "2025-12-24"),
    ("Weihnachtsfeier 24.12. 18:00", "DMY", "Weihnachtsfeier", "2025-12-24 18:00"),
    ("Steuer 31.5.2026", "DMY", "Steuer", "2026-05-31"),
    ("Leap day 29/2", "DMY", "Leap day", "2028-02-29"),
    ("Release 2.5", "DMY", "Release 2.5", None),  # a version number, not a date
    ("Mix 1:2 ratio", "DMY", "Mix 1:2 ratio", None),
    ("Path a/b/c", "DMY", "Path a/b/c", None),
]


@pytest.mark.parametrize(
    ("text", "order", "title", "due"), NUMERIC_ROWS, ids=[f"{r[0]} {r[1]}" for r in NUMERIC_ROWS]
)
def test_numeric_dates_follow_the_users_date_order(
    text: str, order: str, title: str, due: str | None
) -> None:
    task = parse_quick_add(text, now=NOW, tz="Europe/Berlin", date_order=order)  # type: ignore[arg-type]
    got = task.due_at.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M") if task.due_at else task.due_date
    assert (task.title, str(got) if got else None, task.unparsed) == (title, due, [])


@pytest.mark.parametrize("text", ["Buy 31/02", "Meet 13/13", "Meet 0/5"])
def test_a_numeric_date_that_is_no_date_is_listed_as_not_understood(text: str) -> None:
    task = parse_quick_add(text, now=NOW, tz="Europe/Berlin")
    assert (task.due_date, task.due_at, task.unparsed) == (None, None, [text.split()[1]])
    assert task.title == text


# "end of …", quarters and ordinal lists; and what starts like an instruction but is not understood is listed.
ROUND_TWO = [
    ("Invoice end of month", "Invoice", "2025-06-30", None, []),
    ("Report by end of week 5pm", "Report", "2025-06-13 17:00", None, []),  # this week's Friday
    ("Taxes by the end of the year", "Taxes", "2025-12-31", None, []),
    ("Quarterly review every quarter", "Quarterly review", "2025-06-10", "FREQ=MONTHLY;INTERVAL=3", []),
    ("Board pack every 2 quarters", "Board pack", "2025-06-10", "FREQ=MONTHLY;INTERVAL=6", []),
    ("Accounts quarterly", "Accounts", "2025-06-10", "FREQ=MONTHLY;INTERVAL=3", []),
    ("Book club every 1st and 3rd monday", "Book club", "2025-06-16", "FREQ=MONTHLY;BYDAY=1MO,3MO", []),
    ("Ship by end of quarter", "Ship", "2025-06-30", None, []),
    ("Email the team by eow", "Email the team", "2025-06-13", None, []),
    ("Ship by end of decade", "Ship by end of decade", None, None, ["by end of decade"]),
    ("Dentist 13/12 2pm", "Dentist", "2025-12-13 14:00", None, []),  # day first, the default
    ("Plan next quarter", "Plan next quarter", None, None, ["next quarter"]),
    ("Call in 3 fortnights", "Call in 3 fortnights", None, None, ["in 3 fortnights"]),
    ("Water every blue moon", "Water every blue moon", None, None, ["every blue moon"]),
    ("Pay by eod", "Pay by eod", None, None, ["by eod"]),
    ("Call remind me 2h before", "Call", None, None, ["remind me 2h before (needs a due date)"]),
    ("Meeting in Paris", "Meeting in Paris", None, None, []),  # words of a title, not instructions
    ("Plan next steps", "Plan next steps", None, None, []),
    ("Label each box", "Label each box", None, None, []),
]


@pytest.mark.parametrize(
    ("text", "title", "due", "rule", "unparsed"), ROUND_TWO, ids=[r[0] for r in ROUND_TWO]
)
def test_end_of_quarters_ordinal_lists_and_unread_instructions(
    text: str, title: str, due: str | None, rule: str | None, unparsed: list[str]
) -> None:
    task = parse_quick_add(text, now=NOW, tz="Europe/Berlin")
    assert (_due(text), task.recurrence, task.unparsed) == ((title, due), rule, unparsed)


def test_a_date_that_is_no_date_sets_no_due_from_the_time_beside_it() -> None:
    """Month first, "13/12" is no date: nothing is guessed from "2pm" either; both stay in the title."""
    task = parse_quick_add("Dentist 13/12 2pm", now=NOW, tz="Europe/Berlin", date_order="MDY")
    assert (task.title, task.due_at, task.due_date, task.unparsed) == (
        "Dentist 13/12 2pm",
        None,
        None,
        ["13/12"],
    )

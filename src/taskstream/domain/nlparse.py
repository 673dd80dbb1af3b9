"""Quick-add parsing: "Pay rent every month on the 1st 9am !high #bills remind 1d before" -> task fields.

Only phrases of a fixed English grammar are read (docs/recurrence.md lists them), so title words are never
taken for dates. A month name needs a day number ("March report" stays a title); a bare weekday (or its
abbreviation) counts only at the end of the title, a time may follow ("Report fri 5pm", "Review thu 9"),
and "sat", "sun", "wed", also words, only with a time. "tonight": 19:00 today, all day once that is past.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

import dateparser

from taskstream.domain.errors import ValidationError
from taskstream.domain.quickadd_grammar import (
    DATE_RES,
    EVENING,
    EVENING_RE,
    IN_TIME_RE,
    LEFTOVER_RES,
    MAX_TEXT,
    NUMBERS,
    PRIORITIES,
    PRIORITY_RE,
    REMIND_AT_RE,
    REMIND_BEFORE_RE,
    TAG_RE,
    TAIL_WEEKDAY_RE,
    TIME_RE,
    TIMED_WEEKDAY_RE,
    UNTIL_RE,
    DateOrder,
    end_of,
    numeric_date,
)
from taskstream.domain.recurrence import first_occurrence, localize, normalize_rrule
from taskstream.domain.recurrence_phrases import (
    COMPLETION_RE,
    WEEKDAY_WORDS,
    PhraseMatch,
    find_recurrence,
    find_trailing_adverb,
)
from taskstream.domain.tasks import zone as iana_zone


@dataclass
class ParsedTask:
    """Task fields read from one line of quick-add text (due_at aware UTC, due_date all-day)."""

    title: str
    due_at: datetime | None = None
    due_date: date | None = None
    recurrence: str | None = None
    repeat_from: Literal["due", "completion"] = "due"
    priority: str | None = None
    tags: list[str] = field(default_factory=list)
    reminders: list[dict[str, str]] = field(default_factory=list)
    unparsed: list[str] = field(default_factory=list)


class _Text:
    """The input with a mask of consumed characters; regexes run on a view where consumed ones are NUL."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.used = [False] * len(text)

    def view(self) -> str:
        return "".join("\x00" if used else char for char, used in zip(self.text, self.used, strict=True))

    def take(self, start: int, end: int) -> None:
        self.used[start:end] = [True] * (end - start)

    def release(self, start: int, end: int) -> None:
        self.used[start:end] = [False] * (end - start)

    def title(self) -> str:
        kept = "".join(" " if used else char for char, used in zip(self.text, self.used, strict=True))
        return re.sub(r"\s+", " ", kept).strip(" ,;:-")


def _time_of(match: re.Match[str]) -> time | None:
    groups = match.groupdict()
    if groups.get("word"):
        return time(12) if groups["word"].lower() == "noon" else time(0)
    if groups.get("hat") is not None:
        return time(int(groups["hat"]))
    if groups.get("h24") is not None:
        return time(int(groups["h24"]), int(groups["m24"]))
    hour, minute = int(groups["h"]), int(groups["m"] or 0)
    if not 1 <= hour <= 12:
        return None
    return time(hour % 12 + (12 if groups["ap"].lower().startswith("p") else 0), minute)


def _twelve_hour_free(match: re.Match[str]) -> bool:
    """The time was written without am/pm or a word ("at 8", "8:30")."""
    groups = match.groupdict()
    return not groups.get("ap") and not groups.get("word")


def _duration(number: int, unit: str) -> str:
    unit = unit.lower()
    if unit.startswith("m"):
        return f"PT{number}M"
    if unit.startswith("h"):
        return f"PT{number}H"
    return f"P{number}W" if unit.startswith("w") else f"P{number}D"


def _dateparse(phrase: str, now_local: datetime, tz: str, *, today_counts: bool = False) -> date | None:
    """Date of an English phrase via dateparser, future preferred; today counts for "13 june" on 13 June."""
    base = now_local - timedelta(days=1) if today_counts else now_local
    settings: dict[str, Any] = {
        "PREFER_DATES_FROM": "future",
        "RELATIVE_BASE": base,
        "TIMEZONE": tz,
        "RETURN_AS_TIMEZONE_AWARE": False,
    }
    words = re.sub(r"\b(" + "|".join(NUMBERS) + r")\b", lambda m: str(NUMBERS[m.group(1).lower()]), phrase)
    parsed = dateparser.parse(words, languages=["en"], settings=settings)
    return parsed.date() if parsed is not None else None


def _next_weekday(word: str, now_local: datetime) -> date | None:
    """The next date after today that falls on the weekday `word` names ("fri", "thurs", "mondays")."""
    word = word.lower()
    weekday = WEEKDAY_WORDS.get(word, WEEKDAY_WORDS.get(word.removesuffix("s")))
    if weekday is None:
        return None
    today = now_local.date()
    return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


def _date_of(match: re.Match[str], now_local: datetime, tz: str, order: DateOrder) -> date | None:
    groups = match.groupdict()
    if groups.get("eo") or groups.get("eo_short"):
        return end_of(groups["eo"] or groups["eo_short"], now_local.date())
    if groups.get("num"):
        return numeric_date(groups["num"], order, now_local.date())
    if groups.get("phrase") and (weekday := _next_weekday(groups["phrase"], now_local)) is not None:
        return weekday
    if groups.get("iso"):
        try:
            return date.fromisoformat(groups["iso"])
        except ValueError:
            return None
    for key in ("dm", "md"):
        if groups.get(key):
            has_year = re.search(r"\d{4}\b", groups[key]) is not None
            return _dateparse(groups[key], now_local, tz, today_counts=not has_year)
    return _dateparse(groups["phrase"], now_local, tz)


def _first_match(work: _Text, patterns: tuple[re.Pattern[str], ...]) -> re.Match[str] | None:
    view = work.view()
    found = [m for m in (p.search(view) for p in patterns) if m is not None]
    return min(found, key=lambda m: m.start()) if found else None


def _take_tags(work: _Text) -> list[str]:
    tags: list[str] = []
    for match in TAG_RE.finditer(work.view()):
        work.take(match.start(), match.end())
        tag = match.group(1).rstrip("-")
        if tag.lower() not in (t.lower() for t in tags):
            tags.append(tag)
    return tags


def _take_priority(work: _Text, unparsed: list[str]) -> str | None:
    priority: str | None = None
    for match in PRIORITY_RE.finditer(work.view()):
        value = PRIORITIES.get(match.group(1).lower())
        if value is None:
            unparsed.append(match.group(0))
            continue
        work.take(match.start(), match.end())
        if priority is None:
            priority = value
        else:
            unparsed.append(match.group(0))
    return priority


def _take_reminders(work: _Text) -> tuple[list[dict[str, str]], list[time], list[str]]:
    """Reminders before the due, times of day to remind at, and the words each "before" was read from."""
    before: list[dict[str, str]] = []
    at: list[time] = []
    words: list[str] = []
    for match in REMIND_BEFORE_RE.finditer(work.view()):
        work.take(match.start(), match.end())
        before.append({"before": _duration(int(match.group("n")), match.group("unit"))})
        words.append(match.group(0))
    for match in REMIND_AT_RE.finditer(work.view()):
        moment = _time_of(match)
        if moment is not None:
            work.take(match.start(), match.end())
            at.append(moment)
    return before, at, words


def _take_recurrence(
    work: _Text, now_local: datetime, tz: str, unparsed: list[str], order: DateOrder
) -> str | None:
    phrase: PhraseMatch | None = find_recurrence(work.view()) or find_trailing_adverb(work.view())
    if phrase is None:
        return None
    work.take(phrase.start, phrase.end)
    rule = phrase.rrule
    until = UNTIL_RE.search(work.view())
    until_date = _date_of(until, now_local, tz, order) if until else None
    if until is not None and until_date is not None:
        work.take(until.start(), until.end())
        rule += f";UNTIL={until_date:%Y%m%d}"
    try:
        return normalize_rrule(rule)
    except ValidationError:
        work.release(phrase.start, phrase.end)
        if until is not None:
            work.release(until.start(), until.end())
        unparsed.append(work.text[phrase.start : phrase.end])
        return None


def _next_at(moment: time, on: date | None, now: datetime, now_local: datetime, tz: str) -> datetime:
    """Aware UTC instant of `moment` on `on`, or (no date) its next occurrence not before `now`."""
    zone = iana_zone(tz)
    if on is not None:
        return localize(datetime.combine(on, moment), zone)
    today = localize(datetime.combine(now_local.date(), moment), zone)
    return (
        today
        if today >= now
        else localize(datetime.combine(now_local.date() + timedelta(days=1), moment), zone)
    )


def _rfc3339(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_quick_add(text: str, *, now: datetime, tz: str, date_order: DateOrder = "DMY") -> ParsedTask:
    """Read a quick-add line in the user's IANA zone `tz` at instant `now` (aware) into task fields;
    numeric dates ("10/12") in the user's `date_order` of day, month and year.

    due_at is aware UTC, due_date an all-day date, recurrence a normalized RFC 5545 RRULE value, reminders
    ISO 8601 durations or RFC 3339 UTC instants. Raises ValidationError for a naive `now`, unknown `tz` or
    over-long text.
    """
    if now.tzinfo is None:
        raise ValidationError("now must be timezone-aware", field="now")
    if len(text) > MAX_TEXT:
        raise ValidationError(f"quick-add text is longer than {MAX_TEXT} characters", field="title")
    now_local = now.astimezone(iana_zone(tz)).replace(tzinfo=None)
    work = _Text(text)
    unparsed: list[str] = []
    result = ParsedTask(title="", tags=_take_tags(work), priority=_take_priority(work, unparsed))
    result.reminders, remind_at, remind_words = _take_reminders(work)
    result.recurrence = _take_recurrence(work, now_local, tz, unparsed, date_order)
    held = UNTIL_RE.search(work.view())  # "until 30 june" without a recurrence is not a due date
    if held is not None:
        work.take(held.start(), held.end())
    listed = len(unparsed)
    due_date, due_at, implied = _take_when(work, now, now_local, tz, unparsed, date_order)
    unreadable = due_date is None and due_at is None and len(unparsed) > listed  # "13/12", month first
    moment, written = (None, None) if unreadable else _take_time(work, unparsed)  # no due from the time alone
    if moment is not None and implied == EVENING and written is not None and _twelve_hour_free(written):
        moment = moment.replace(hour=moment.hour + 12) if 1 <= moment.hour < 12 else moment  # tonight at 8
    if moment is None and implied is not None and (implied != EVENING or now_local.time() < EVENING):
        moment = implied  # "thu 9"; "tonight" before 19:00 (after it: all day today)
    if held is not None:
        work.release(held.start(), held.end())
    if result.recurrence is None:
        result.recurrence = _take_recurrence(work, now_local, tz, unparsed, date_order)
    completion = COMPLETION_RE.search(work.view())
    if completion is not None:
        if result.recurrence is not None:
            work.take(completion.start(), completion.end())
            result.repeat_from = "completion"
        else:
            unparsed.append(completion.group(0))
    if due_at is None and due_date is None and result.recurrence is not None:
        first = first_occurrence(result.recurrence, tz=tz, now=now, at=moment)
        due_at, due_date = (first, None) if isinstance(first, datetime) else (None, first)
    elif due_at is None and moment is not None:
        due_at, due_date = _next_at(moment, due_date, now, now_local, tz), None
    result.due_at, result.due_date = due_at, due_date
    if due_at is None and due_date is None and result.reminders:
        unparsed.extend(f"{words} (needs a due date)" for words in remind_words)
        result.reminders = []
    reminder_day = due_at.astimezone(iana_zone(tz)).date() if due_at else due_date
    for moment_at in remind_at:
        result.reminders.append({"at": _rfc3339(_next_at(moment_at, reminder_day, now, now_local, tz))})
    view = work.view()
    for pattern in LEFTOVER_RES:
        unparsed.extend(match.group(0).strip() for match in pattern.finditer(view))
    result.title, result.unparsed = work.title(), list(dict.fromkeys(unparsed))
    return result


def _take_when(
    work: _Text, now: datetime, now_local: datetime, tz: str, unparsed: list[str], order: DateOrder
) -> tuple[date | None, datetime | None, time | None]:
    """The first date phrase (or "in 3 hours") as (all-day date, None, time it implies) or (None, aware UTC
    instant, None). Without one, a weekday ending the title, the time after it hidden ("friday 5pm")."""
    match = _first_match(work, (*DATE_RES, IN_TIME_RE))
    if match is None:
        view = work.view()
        timed = TIME_RE.search(view)
        if timed is not None and _time_of(timed) is not None:  # NULs where the time is (taken later)
            view = view[: timed.start()] + "\x00" * (timed.end() - timed.start()) + view[timed.end() :]
        else:
            timed = None
        match = TAIL_WEEKDAY_RE.search(view) or (TIMED_WEEKDAY_RE.search(view) if timed else None)
        if match is None:
            return None, None, None
        day = _next_weekday(match.group("wd"), now_local)
        work.take(match.start(), match.end())
        hour = match.groupdict().get("hour")
        return day, None, time(int(hour)) if hour else None
    work.take(match.start(), match.end())
    other = _first_match(work, (*DATE_RES, IN_TIME_RE))
    if other is not None:
        unparsed.append(other.group(0).strip())
    if match.re is IN_TIME_RE:
        number = NUMBERS.get(match.group("n").lower()) or int(match.group("n"))
        unit = "minutes" if match.group("unit").lower().startswith("m") else "hours"
        return None, (now + timedelta(**{unit: number})).astimezone(UTC), None
    if match.re is EVENING_RE:
        return now_local.date(), None, EVENING
    day = _date_of(match, now_local, tz, order)
    if day is None:
        work.release(match.start(), match.end())
        unparsed.append(match.group(0).strip())
    return day, None, None


def _take_time(work: _Text, unparsed: list[str]) -> tuple[time | None, re.Match[str] | None]:
    """The first time of day, and the text it was read from."""
    match = TIME_RE.search(work.view())
    if match is None:
        return None, None
    moment = _time_of(match)
    if moment is None:
        unparsed.append(match.group(0).strip())
        return None, None
    work.take(match.start(), match.end())
    return moment, match

"""English descriptions of RRULE values ("every 2 weeks on Monday and Thursday")."""

from __future__ import annotations

from datetime import datetime

from taskstream.domain.recurrence_rule import RuleParts, parse_rule

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_UNITS = {"DAILY": "day", "WEEKLY": "week", "MONTHLY": "month", "YEARLY": "year"}
_ADVERBS = {"DAILY": "daily", "WEEKLY": "weekly", "MONTHLY": "monthly", "YEARLY": "yearly"}
_ORDINAL_WORDS = {
    1: "first",
    2: "second",
    3: "third",
    4: "fourth",
    5: "fifth",
    -1: "last",
    -2: "second-to-last",
}
_WORKWEEK = ((None, 0), (None, 1), (None, 2), (None, 3), (None, 4))
_WEEKEND = ((None, 5), (None, 6))


def join_words(words: list[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def nth(number: int) -> str:
    """English ordinal numeral: 1 -> "1st", 22 -> "22nd", 13 -> "13th"."""
    suffix = "th" if 11 <= number % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def _ordinal(number: int) -> str:
    if number in _ORDINAL_WORDS:
        return _ORDINAL_WORDS[number]
    return nth(number) if number > 0 else f"{nth(-number)}-to-last"


def _month_day(number: int) -> str:
    if number == -1:
        return "the last day"
    return f"the {_ordinal(number)} day" if number < 0 else f"the {nth(number)}"


def _weekday(ordinal: int | None, weekday: int) -> str:
    return DAY_NAMES[weekday] if ordinal is None else f"the {_ordinal(ordinal)} {DAY_NAMES[weekday]}"


def _set_name(byday: tuple[tuple[int | None, int], ...]) -> str:
    if byday == _WORKWEEK:
        return "weekday"
    if byday == _WEEKEND:
        return "weekend day"
    return "day of " + join_words([DAY_NAMES[wd] for _, wd in byday])


def _yearly_date(rule: RuleParts) -> bool:
    """True for "yearly on 25 December": one month, one positive month day, nothing else."""
    one_day = len(rule.bymonthday) == 1 and rule.bymonthday[0] > 0
    return rule.freq == "YEARLY" and len(rule.bymonth) == 1 and one_day and not rule.byday


def _days(rule: RuleParts) -> str:
    """The "on …" phrase for the day parts, or "" when the rule has none."""
    pieces: list[str] = []
    if rule.bysetpos and rule.byday and all(n is None for n, _ in rule.byday):
        positions = join_words([f"the {_ordinal(p)}" for p in rule.bysetpos])
        return f"{positions} {_set_name(rule.byday)}"
    if _yearly_date(rule):
        return f"{rule.bymonthday[0]} {MONTH_NAMES[rule.bymonth[0] - 1]}"
    if rule.bymonthday:
        pieces.append(join_words([_month_day(n) for n in rule.bymonthday]))
    if rule.byday:
        pieces.append(join_words([_weekday(n, wd) for n, wd in rule.byday]))
    if rule.byyearday:
        pieces.append("day " + join_words([str(n) for n in rule.byyearday]) + " of the year")
    if rule.bysetpos:
        pieces.append("(positions " + ", ".join(str(p) for p in rule.bysetpos) + ")")
    return " that is ".join(pieces[:2]) + "".join(" " + p for p in pieces[2:])


def _head(rule: RuleParts) -> str:
    unit = _UNITS[rule.freq]
    if rule.freq in ("DAILY", "WEEKLY") and rule.interval == 1 and rule.byday and not rule.bymonthday:
        if rule.byday == _WORKWEEK:
            return "every weekday"
        if rule.freq == "DAILY":
            return "every " + join_words([DAY_NAMES[wd] for _, wd in rule.byday])
    every = f"every {unit}" if rule.interval == 1 else f"every {rule.interval} {unit}s"
    days = _days(rule)
    if not days:
        return every
    if rule.interval == 1 and rule.freq in ("MONTHLY", "YEARLY"):
        return f"{_ADVERBS[rule.freq]} on {days}"
    return f"{every} on {days}"


def _tail(rule: RuleParts) -> str:
    text = ""
    if rule.bymonth and not _yearly_date(rule):
        text += " in " + join_words([MONTH_NAMES[m - 1] for m in rule.bymonth])
    if rule.byweekno:
        text += " in week " + join_words([str(n) for n in rule.byweekno]) + " of the year"
    if rule.count is not None:
        text += " once" if rule.count == 1 else f", {rule.count} times"
    if isinstance(rule.until, datetime):
        text += f" until {rule.until.day} {MONTH_NAMES[rule.until.month - 1]} {rule.until.year}"
        text += f" {rule.until:%H:%M} UTC"
    elif rule.until is not None:
        text += f" until {rule.until.day} {MONTH_NAMES[rule.until.month - 1]} {rule.until.year}"
    return text


def describe_rule(value: str) -> str:
    """English words for an RRULE value, e.g. "monthly on the last Friday"; raises ValidationError."""
    rule = parse_rule(value)
    return _head(rule) + _tail(rule)

"""English recurrence phrases ("every 2 weeks on monday and thursday") mapped to RFC 5545 RRULE values."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from taskstream.domain.recurrence_rule import WEEKDAYS

WEEKDAY_WORDS = {
    "monday": 0,
    "mon": 0,
    "tuesday": 1,
    "tues": 1,
    "tue": 1,
    "wednesday": 2,
    "wed": 2,
    "thursday": 3,
    "thurs": 3,
    "thur": 3,
    "thu": 3,
    "friday": 4,
    "fri": 4,
    "saturday": 5,
    "sat": 5,
    "sunday": 6,
    "sun": 6,
}
MONTH_WORDS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sept", "sep"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
NUMBER_WORDS = {"other": 2, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "ten": 10, "twelve": 12}
ORDINAL_WORDS = {
    "first": 1,
    "1st": 1,
    "second": 2,
    "2nd": 2,
    "third": 3,
    "3rd": 3,
    "fourth": 4,
    "4th": 4,
    "fifth": 5,
    "5th": 5,
    "last": -1,
    "second last": -2,
    "second-to-last": -2,
    "second to last": -2,
}


def _alternation(words: dict[str, int]) -> str:
    return "(?:" + "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True)) + ")"


WD = _alternation(WEEKDAY_WORDS) + r"s?\b"
MONTH = _alternation(MONTH_WORDS) + r"\b"
WD_LIST = rf"{WD}(?:\s*(?:,|and|&)\s*(?:and\s+)?{WD})*"
ORD = _alternation(ORDINAL_WORDS)
ORD_LIST = rf"{ORD}(?:\s*(?:,|and|&)\s*(?:and\s+)?(?:the\s+)?{ORD})*"
COUNT = r"(?:(\d{1,4}|" + "|".join(NUMBER_WORDS) + r")\s+)?"
DAY_NUMBER = r"\d{1,2}(?:st|nd|rd|th)?"
DAY_ITEM = rf"(?:the\s+)?(?:{DAY_NUMBER}|last\s+day)"
DAY_LIST = rf"{DAY_ITEM}(?:\s*(?:,|and|&)\s*(?:and\s+)?{DAY_ITEM})*"
EVERY = r"\b(?:every|each)\s+"
OF_MONTH = r"\s+of\s+(?:the|every|each)\s+month\b"
_FREQ_BY_UNIT = {"day": "DAILY", "week": "WEEKLY", "month": "MONTHLY", "year": "YEARLY"}
_ADVERBS = {
    "daily": "FREQ=DAILY",
    "weekly": "FREQ=WEEKLY",
    "fortnightly": "FREQ=WEEKLY;INTERVAL=2",
    "monthly": "FREQ=MONTHLY",
    "quarterly": "FREQ=MONTHLY;INTERVAL=3",
    "yearly": "FREQ=YEARLY",
    "annually": "FREQ=YEARLY",
}
COMPLETION_RE = re.compile(
    r"\b(?:(?:from|after)\s+(?:completion|completing|done)"
    r"|after\s+(?:it\s+is\s+|it's\s+)?(?:done|completed))\b",
    re.IGNORECASE,
)
ADVERB_AT_END_RE = re.compile(r"\b(" + "|".join(_ADVERBS) + r")(?=[\s\x00]*$)", re.IGNORECASE)


@dataclass(frozen=True)
class PhraseMatch:
    """A recognized recurrence phrase: its [start, end) span in the text and the RRULE value it means."""

    start: int
    end: int
    rrule: str


def _count(word: str | None) -> int:
    return (NUMBER_WORDS.get(word.lower()) or int(word)) if word else 1


def _interval(word: str | None) -> str:
    number = _count(word)
    return f";INTERVAL={number}" if number != 1 else ""


def _weekdays(text: str) -> str:
    days: set[int] = set()
    for word in re.findall(WD, text, re.IGNORECASE):
        key = word.lower()
        days.add(WEEKDAY_WORDS[key if key in WEEKDAY_WORDS else key[:-1]])
    return ",".join(WEEKDAYS[d] for d in sorted(days))


def _ordinal_weekday(match: re.Match[str]) -> str:
    """ "the 1st and 3rd monday" → BYDAY=1MO,3MO."""
    ordinals = [
        ORDINAL_WORDS[re.sub(r"\s+", " ", w.lower())] for w in re.findall(ORD, match.group("ord"), re.I)
    ]
    days = _weekdays(match.group("wd")).split(",")
    return "FREQ=MONTHLY;BYDAY=" + ",".join(f"{n}{day}" for n in dict.fromkeys(ordinals) for day in days)


def _month_days(text: str) -> str:
    days = [
        -1 if "last" in item.lower() else int(re.sub(r"\D", "", item))
        for item in re.findall(rf"{DAY_NUMBER}|last\s+day", text, re.IGNORECASE)
    ]
    return ",".join(str(d) for d in days)


def _yearly_date(match: re.Match[str]) -> str:
    words = match.group("date").lower().replace(" of ", " ").split()
    day_word, month_word = (words[0], words[1]) if words[0][0].isdigit() else (words[1], words[0])
    day = int(day_word.rstrip("stndrh"))
    return f"FREQ=YEARLY;BYMONTH={MONTH_WORDS[month_word]};BYMONTHDAY={day}"


_Builder = Callable[[re.Match[str]], str]
_PATTERNS: list[tuple[re.Pattern[str], _Builder]] = [
    (
        re.compile(
            rf"(?:{EVERY}|\bon\s+)?(?:the\s+)?(?P<ord>{ORD_LIST})\s+(?P<wd>{WD}){OF_MONTH}", re.IGNORECASE
        ),
        _ordinal_weekday,
    ),
    (re.compile(rf"{EVERY}(?:the\s+)?(?P<ord>{ORD_LIST})\s+(?P<wd>{WD})", re.IGNORECASE), _ordinal_weekday),
    (
        re.compile(
            rf"(?:{EVERY}|\bon\s+)?(?:the\s+)?last\s+day{OF_MONTH}|{EVERY}last\s+day\b", re.IGNORECASE
        ),
        lambda m: "FREQ=MONTHLY;BYMONTHDAY=-1",
    ),
    (
        re.compile(rf"(?:{EVERY}{COUNT}months?|\bmonthly)\s+on\s+(?P<days>{DAY_LIST})\b", re.IGNORECASE),
        lambda m: f"FREQ=MONTHLY{_interval(m.group(1))};BYMONTHDAY={_month_days(m.group('days'))}",
    ),
    (
        re.compile(rf"(?:\bon\s+)?(?:the\s+)?(?P<days>\d{{1,2}}(?:st|nd|rd|th)){OF_MONTH}", re.IGNORECASE),
        lambda m: f"FREQ=MONTHLY;BYMONTHDAY={_month_days(m.group('days'))}",
    ),
    (
        re.compile(
            rf"(?:{EVERY}{COUNT}weeks?|\bweekly|\bfortnightly)\s+on\s+(?P<wd>{WD_LIST})", re.IGNORECASE
        ),
        lambda m: (
            ("FREQ=WEEKLY;INTERVAL=2" if m.group(0).lower().startswith("fortnightly") else "FREQ=WEEKLY")
            + _interval(m.group(1))
            + f";BYDAY={_weekdays(m.group('wd'))}"
        ),
    ),
    (
        re.compile(rf"{EVERY}weekdays?\b|\bon\s+weekdays\b", re.IGNORECASE),
        lambda m: "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
    ),
    (
        re.compile(rf"{EVERY}weekends?\b|\bon\s+weekends\b", re.IGNORECASE),
        lambda m: "FREQ=WEEKLY;BYDAY=SA,SU",
    ),
    (
        re.compile(rf"{EVERY}{COUNT}(?P<wd>{WD_LIST})", re.IGNORECASE),
        lambda m: f"FREQ=WEEKLY{_interval(m.group(1))};BYDAY={_weekdays(m.group('wd'))}",
    ),
    (
        re.compile(
            rf"{EVERY}(?:year\s+on\s+)?(?P<date>{DAY_NUMBER}\s+(?:of\s+)?{MONTH}|{MONTH}\s+{DAY_NUMBER}\b)",
            re.IGNORECASE,
        ),
        _yearly_date,
    ),
    (
        re.compile(rf"{EVERY}(?P<days>\d{{1,2}}(?:st|nd|rd|th))\b", re.IGNORECASE),
        lambda m: f"FREQ=MONTHLY;BYMONTHDAY={_month_days(m.group('days'))}",
    ),
    (
        re.compile(rf"{EVERY}{COUNT}quarters?\b", re.IGNORECASE),
        lambda m: f"FREQ=MONTHLY;INTERVAL={3 * _count(m.group(1))}",
    ),
    (
        re.compile(rf"{EVERY}{COUNT}(?P<unit>day|week|month|year)s?\b", re.IGNORECASE),
        lambda m: f"FREQ={_FREQ_BY_UNIT[m.group('unit').lower()]}{_interval(m.group(1))}",
    ),
]


def find_recurrence(text: str) -> PhraseMatch | None:
    """First recurrence phrase in `text` (most specific pattern wins) or None; RRULE not yet normalized."""
    for pattern, build in _PATTERNS:
        match = pattern.search(text)
        if match:
            return PhraseMatch(match.start(), match.end(), build(match))
    return None


def find_trailing_adverb(text: str) -> PhraseMatch | None:
    """A bare "daily"/"weekly"/"monthly"/... at the end of what is left of the title, or None."""
    match = ADVERB_AT_END_RE.search(text)
    if match is None:
        return None
    return PhraseMatch(match.start(), match.end(), _ADVERBS[match.group(1).lower()])

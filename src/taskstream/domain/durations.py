"""ISO 8601 durations as text, and the RFC 5545 durations a reminder is set before its due."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from taskstream.domain.errors import ValidationError

_RFC5545 = re.compile(
    r"P(?:(?P<w>\d{1,4})W)?(?:(?P<d>\d{1,5})D)?"
    r"(?:T(?:(?P<h>\d{1,6})H)?(?:(?P<m>\d{1,7})M)?(?:(?P<s>\d{1,9})S)?)?"
)


def iso_duration(delta: timedelta) -> str:
    """ISO 8601 duration of a non-negative timedelta, e.g. 15 min → "PT15M", 1 day → "P1D"."""
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    return _text(0, days, rest)


def _text(weeks: int, days: int, seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    out = "P" + (f"{weeks}W" if weeks else "") + (f"{days}D" if days else "")
    clock = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + (f"{secs}S" if secs else "")
    if clock:
        out += "T" + clock
    return out if out != "P" else "PT0S"


@dataclass(frozen=True)
class Offset:
    """A duration before a due, as RFC 5545 §3.3.6 means it: weeks and days are nominal (that many calendar
    days earlier at the same wall-clock time, in the task's zone), hours, minutes and seconds exact (that much
    elapsed time). So "P1D" before 09:00 on the day summer time starts is 09:00 the day before, 23 hours
    earlier, while "PT24H" is 24 hours earlier, 08:00. Kept as given: P1W, P7D and PT168H stay apart.
    """

    weeks: int = 0
    days: int = 0
    seconds: int = 0

    @classmethod
    def parse(cls, text: str, *, field: str = "before") -> Offset:
        """The offset of an RFC 5545 duration ("PT15M", "P1D", "P1W", "P1DT2H"; upper or lower case);
        ValidationError(field) for anything else (signs, fractions, months and years have no fixed length)."""
        match = _RFC5545.fullmatch(text.strip().upper()) if isinstance(text, str) else None
        if match is None or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
            raise ValidationError(
                f'{field} must be an RFC 5545 duration such as "PT15M", "PT2H", "P1D" or "P1W" '
                "(no months or years: they have no fixed length; no signs or fractions)",
                field=field,
            )
        n = {k: int(v) if v else 0 for k, v in match.groupdict().items()}
        return cls(weeks=n["w"], days=n["d"], seconds=n["h"] * 3600 + n["m"] * 60 + n["s"])

    @property
    def iso(self) -> str:
        """The duration as text, in the form it was given ("P1W" stays "P1W", "PT24H" stays "PT24H")."""
        return _text(self.weeks, self.days, self.seconds)

    @property
    def length(self) -> timedelta:
        """Its length with every day taken as 24 hours (for bounds, not for reckoning)."""
        return timedelta(days=self.weeks * 7 + self.days, seconds=self.seconds)

    def before(self, due: datetime, tz: ZoneInfo) -> datetime:
        """The UTC instant this long before `due` (aware): nominal days on the wall clock of `tz`, then the
        exact part as elapsed time. A wall-clock time the zone skips takes the offset before the gap."""
        instant = due.astimezone(UTC)
        nominal = self.weeks * 7 + self.days
        if nominal:
            local = due.astimezone(tz).replace(tzinfo=None) - timedelta(days=nominal)
            instant = local.replace(tzinfo=tz, fold=0).astimezone(UTC)
        return instant - timedelta(seconds=self.seconds)

"""ISO 8601 durations as text."""

from __future__ import annotations

from datetime import timedelta


def iso_duration(delta: timedelta) -> str:
    """ISO 8601 duration of a non-negative timedelta, e.g. 15 min → "PT15M", 1 day → "P1D"."""
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    out = "P" + (f"{days}D" if days else "")
    clock = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + (f"{secs}S" if secs else "")
    if clock:
        out += "T" + clock
    return out if out != "P" else "PT0S"

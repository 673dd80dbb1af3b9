"""Rate limits of sign-in and sign-up: fixed-window counters in the database (auth_throttle).

The counters live in the database so every api process and replica shares them. A key names what is
counted: `signin:account:<e-mail>`, `signin:address:<client address>`, `register:address:<client address>`.
An attempt is counted before it is checked (one atomic statement per key), so concurrent attempts cannot
all slip under a limit together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, literal, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from taskstream.store.profile import DatabaseProfile
from taskstream.store.tables import AuthThrottle, UTCDateTime


@dataclass(frozen=True)
class Limit:
    """At most `max_count` counted attempts per key within `window` (a fixed window from the first one)."""

    max_count: int
    window: timedelta


class ThrottleRepository:
    """Counts attempts per key and says when a key went over its limit."""

    def __init__(self, session: AsyncSession, profile: DatabaseProfile) -> None:
        self.session = session
        self._profile = profile

    async def take(self, limits: dict[str, Limit], *, now: datetime) -> int | None:
        """Count one attempt for each key; None when every key is within its limit, else the seconds until
        the last of the exceeded windows ends (the Retry-After).

        A key whose window ended starts a new one. Counters older than twice the longest window are
        deleted on the way.
        """
        dialect = postgresql if self._profile.name == "postgresql" else sqlite
        longest = max(limit.window for limit in limits.values())
        await self.session.execute(delete(AuthThrottle).where(AuthThrottle.window_start < now - 2 * longest))
        at = literal(now, UTCDateTime())
        waits = []
        for key, limit in limits.items():
            current = AuthThrottle.window_start > now - limit.window
            statement = (
                dialect.insert(AuthThrottle)
                .values(key=key, window_start=now, count=1)
                .on_conflict_do_update(
                    index_elements=[AuthThrottle.key],
                    set_={
                        "count": case((current, AuthThrottle.count + 1), else_=1),
                        "window_start": case((current, AuthThrottle.window_start), else_=at),
                    },
                )
                .returning(AuthThrottle.count, AuthThrottle.window_start)
            )
            count, start = (await self.session.execute(statement)).one()
            if count > limit.max_count:
                waits.append((start + limit.window - now).total_seconds())
        return max(1, math.ceil(max(waits))) if waits else None

    async def give_back(self, keys: list[str]) -> None:
        """Take back one counted attempt of each key (it turned out to be a success)."""
        await self.session.execute(
            update(AuthThrottle)
            .where(AuthThrottle.key.in_(keys), AuthThrottle.count > 0)
            .values(count=AuthThrottle.count - 1)
        )

    async def forget(self, keys: list[str]) -> None:
        """Drop the counters of `keys` (an account's failures after it signed in)."""
        await self.session.execute(delete(AuthThrottle).where(AuthThrottle.key.in_(keys)))

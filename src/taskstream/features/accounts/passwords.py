"""Password hashing: Argon2id (RFC 9106), parameters chosen by the composition root."""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

HASHING_NICENESS = 10  # a worker (and the lanes Argon2 starts from it) yields the CPU to requests


def _lower_priority() -> None:
    """Lower this worker thread's CPU priority (Linux gives each thread its own nice value; the threads
    Argon2 starts inherit it), so on a busy machine the event loop still gets the CPU at once."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)
    except (AttributeError, OSError):  # other systems: the pool bound alone limits the load
        pass


class Passwords:
    """Hashes and verifies passwords with Argon2id.

    The defaults are argon2-cffi's (RFC 9106's second recommendation: 3 passes over 64 MiB, 4 lanes, ~0.6 s
    here). `cheap()` is for tests only: the same algorithm at its smallest cost. The *_off_loop methods run
    in a pool of `workers` threads (argon2 releases the GIL), so at most that many hashes run at once and
    the event loop never waits for one.
    """

    def __init__(self, hasher: PasswordHasher | None = None, *, workers: int = 2) -> None:
        self._hasher = hasher or PasswordHasher()
        self._pool = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="argon2", initializer=_lower_priority
        )

    @functools.cached_property
    def _dummy(self) -> str:
        """Verified when the e-mail is unknown, so a wrong e-mail costs what a wrong password does."""
        return self._hasher.hash("no account has this password")

    @classmethod
    def cheap(cls) -> Passwords:
        """Argon2id with 1 pass over 8 KiB: fast sign-ups in tests; never for real accounts."""
        return cls(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))

    def hash(self, password: str) -> str:
        """Argon2id hash of `password` (PHC string)."""
        return self._hasher.hash(password)

    def verify(self, hashed: str | None, password: str) -> bool:
        """True when `password` matches `hashed` (a hash made with any parameters); None (no such account)
        is verified against a dummy hash, with the same cost, and is False."""
        try:
            return self._hasher.verify(hashed or self._dummy, password) and hashed is not None
        except (VerificationError, InvalidHashError):
            return False

    async def hash_off_loop(self, password: str) -> str:
        """`hash` in the worker pool: Argon2 takes ~0.6 s of CPU and would stall every other request."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.hash, password)

    async def verify_off_loop(self, hashed: str | None, password: str) -> bool:
        """`verify` in the worker pool (see hash_off_loop)."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.verify, hashed, password)

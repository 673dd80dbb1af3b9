"""Password hashing: Argon2id (RFC 9106), parameters chosen by the composition root."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Passwords:
    """Hashes and verifies passwords with Argon2id.

    The defaults are argon2-cffi's (RFC 9106's second recommendation: 3 passes over 64 MiB, 4 lanes, ~0.6 s
    here). `cheap()` is for tests only: the same algorithm at its smallest cost.
    """

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()

    @classmethod
    def cheap(cls) -> Passwords:
        """Argon2id with 1 pass over 8 KiB: fast sign-ups in tests; never for real accounts."""
        return cls(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))

    def hash(self, password: str) -> str:
        """Argon2id hash of `password` (PHC string)."""
        return self._hasher.hash(password)

    def verify(self, hashed: str, password: str) -> bool:
        """True when `password` matches `hashed` (a hash made with any parameters)."""
        try:
            return self._hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

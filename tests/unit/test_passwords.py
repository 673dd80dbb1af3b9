"""Passwords: Argon2id off the event loop, and the same work whether the e-mail exists or not."""

from __future__ import annotations

import threading

from taskstream.features.accounts.passwords import Passwords


class Watched(Passwords):
    """Records the thread each verification ran on."""

    def __init__(self) -> None:
        cheap = Passwords.cheap()
        super().__init__(cheap._hasher)
        self.threads: list[int] = []

    def verify(self, hashed: str | None, password: str) -> bool:
        self.threads.append(threading.get_ident())
        return super().verify(hashed, password)


async def test_verification_runs_off_the_event_loop_and_an_unknown_account_costs_a_verification() -> None:
    passwords = Watched()
    hashed = await passwords.hash_off_loop("correct horse")
    assert await passwords.verify_off_loop(hashed, "correct horse")
    assert not await passwords.verify_off_loop(hashed, "wrong horse")
    assert not await passwords.verify_off_loop(None, "correct horse")  # no such account: a dummy hash
    assert not await passwords.verify_off_loop(None, "no account has this password")  # even its own text
    assert len(passwords.threads) == 4
    assert threading.get_ident() not in passwords.threads

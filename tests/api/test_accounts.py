"""Accounts through the real FastAPI app (in-process), on SQLite and PostgreSQL: sign-up rules, sessions with
refresh tokens, sign-out, password change, rate limits, export and deletion."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest

from taskstream.domain.clock import FixedClock
from taskstream.features.accounts.passwords import Passwords
from taskstream.runtime import Runtime
from taskstream.settings import Settings
from taskstream.store.tables import AuditEntry, DeletedTask, Notification, Session, Task, User
from tests.conftest import sign_up

PASSWORD = "correct horse"


@asynccontextmanager
async def api(settings: Settings, clock: FixedClock, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process api on the test database with some settings changed."""
    from taskstream.api.app import create_app

    runtime = Runtime(settings.model_copy(update=changes), clock=clock, passwords=Passwords.cheap())
    await runtime.start(background=False)
    try:
        app = create_app(runtime.api_context(), runtime.engine)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http
    finally:
        await runtime.stop()


async def _sign_in(
    client: httpx.AsyncClient, email: str = "ada@example.com", password: str = PASSWORD
) -> Any:
    response = await client.post("/api/v1/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


def _bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": token}
    )


async def _count(runtime: Runtime, table: type, *where: Any) -> int:
    from sqlalchemy import func, select

    async with runtime.uow.reader() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(table).where(*where)) or 0)


async def test_register_rules(client: httpx.AsyncClient) -> None:
    ok = await client.post("/api/v1/auth/register", json={"email": "Bo@Example.com", "password": PASSWORD})
    assert ok.status_code == 201
    assert (ok.json()["email"], ok.json()["timezone"]) == ("bo@example.com", "UTC")
    taken = await client.post("/api/v1/auth/register", json={"email": "bo@example.com", "password": PASSWORD})
    assert (taken.status_code, taken.json()["field"]) == (409, "email")
    bad = await client.post("/api/v1/auth/register", json={"email": "not-an-email", "password": PASSWORD})
    assert (bad.status_code, bad.json()["field"]) == (422, "email")
    zone = await client.post(
        "/api/v1/auth/register",
        json={"email": "d@example.com", "password": PASSWORD, "timezone": "Mars/Olympus"},
    )
    assert (zone.status_code, zone.json()["field"]) == (422, "timezone")
    hidden = await client.post(
        "/api/v1/auth/register", json={"email": "e@example.com", "password": PASSWORD, "name": "Ad\u200ba"}
    )
    assert (hidden.status_code, hidden.json()["field"]) == (422, "name")
    named = await client.post(
        "/api/v1/auth/register", json={"email": "f@example.com", "password": PASSWORD, "name": " Jose\u0301 "}
    )
    assert named.json()["name"] == "Jos\u00e9"  # trimmed, NFC


@pytest.mark.parametrize(
    ("password", "says"),
    [
        ("1234567", "8 characters"),
        ("12345678", "common"),
        ("password", "common"),
        ("        ", "spaces"),
        ("qwertyuiop", "common"),
        ("eve@example.com", "easy"),  # the e-mail itself
    ],
)
async def test_weak_passwords_are_refused_with_a_reason(
    client: httpx.AsyncClient, password: str, says: str
) -> None:
    response = await client.post(
        "/api/v1/auth/register", json={"email": "eve@example.com", "password": password}
    )
    assert (response.status_code, response.json()["field"]) == (422, "password"), response.text
    assert says in response.json()["message"].lower() or (
        says == "easy" and "guess" in response.json()["message"]
    )
    assert (
        await client.post("/api/v1/auth/token", data={"username": "eve@example.com", "password": password})
    ).status_code == 401


async def test_a_refresh_token_is_single_use_and_its_reuse_signs_the_session_out(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client)
    first = await _sign_in(client)
    assert first["token_type"] == "bearer" and first["expires_in"] > 0
    rotated = await _refresh(client, first["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await client.get("/api/v1/me", headers=_bearer(second))).status_code == 200
    reused = await _refresh(client, first["refresh_token"])  # a stolen copy, or a replay
    assert (reused.status_code, reused.json()["field"]) == (401, "refresh_token")
    assert "already used" in reused.json()["message"]
    # The whole session ended: the rotated refresh token and the access tokens of the session stop working.
    assert (await _refresh(client, second["refresh_token"])).status_code == 401
    assert (await client.get("/api/v1/me", headers=_bearer(second))).status_code == 401
    for junk in ("", "tsr1.", "tsr1.nope.nope", "x" * 300, "tsr1." + "a" * 36 + ".b"):
        response = await _refresh(client, junk)
        assert response.status_code in (401, 422), (junk, response.text)


async def test_the_refresh_cookie_works_without_the_field_and_is_http_only(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    response = await client.post(
        "/api/v1/auth/token", data={"username": "ada@example.com", "password": PASSWORD}
    )
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/api/v1/auth" in cookie
    assert response.headers["cache-control"] == "no-store"
    refreshed = await client.post("/api/v1/auth/token", data={"grant_type": "refresh_token"})  # the cookie
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["refresh_token"] != response.json()["refresh_token"]


async def test_logout_ends_this_session_and_everywhere_ends_all(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    laptop, phone, tablet = await _sign_in(client), await _sign_in(client), await _sign_in(client)
    assert (await client.post("/api/v1/auth/logout", headers=_bearer(laptop))).status_code == 204
    assert (await client.get("/api/v1/me", headers=_bearer(laptop))).status_code == 401
    assert (await _refresh(client, laptop["refresh_token"])).status_code == 401
    assert (await client.get("/api/v1/me", headers=_bearer(phone))).status_code == 200
    everywhere = await client.post("/api/v1/auth/logout?everywhere=true", headers=_bearer(phone))
    assert everywhere.status_code == 204
    for tokens in (phone, tablet):
        assert (await client.get("/api/v1/me", headers=_bearer(tokens))).status_code == 401
        assert (await _refresh(client, tokens["refresh_token"])).status_code == 401


async def test_changing_the_password_signs_out_the_other_sessions(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    here, there = await _sign_in(client), await _sign_in(client)
    change = "/api/v1/me/password"
    wrong = await client.post(
        change,
        headers=_bearer(here),
        json={"current_password": "nope nope", "new_password": "a fresh phrase 9"},
    )
    assert (wrong.status_code, wrong.json()["field"]) == (401, "current_password")
    weak = await client.post(
        change, headers=_bearer(here), json={"current_password": PASSWORD, "new_password": "password1"}
    )
    assert (weak.status_code, weak.json()["field"]) == (422, "new_password")
    done = await client.post(
        change, headers=_bearer(here), json={"current_password": PASSWORD, "new_password": "a fresh phrase 9"}
    )
    assert done.status_code == 204, done.text
    assert (await client.get("/api/v1/me", headers=_bearer(here))).status_code == 200
    assert (await client.get("/api/v1/me", headers=_bearer(there))).status_code == 401
    assert (await _refresh(client, there["refresh_token"])).status_code == 401
    assert (
        await client.post("/api/v1/auth/token", data={"username": "ada@example.com", "password": PASSWORD})
    ).status_code == 401
    await _sign_in(client, password="a fresh phrase 9")
    # The old password no longer confirms anything, though this session's caller was cached before.
    stale = await client.request("DELETE", "/api/v1/me", headers=_bearer(here), json={"password": PASSWORD})
    assert stale.status_code == 401


async def test_thirty_wrong_passwords_are_answered_429_even_when_the_right_one_comes(
    settings: Settings, clock: FixedClock
) -> None:
    async with api(settings, clock) as client:  # the default limits: 10 failures per account per 15 minutes
        await sign_up(client)
        statuses = []
        for i in range(30):
            r = await client.post(
                "/api/v1/auth/token", data={"username": "ada@example.com", "password": f"guess {i}"}
            )
            statuses.append(r.status_code)
        assert statuses[:10] == [401] * 10 and set(statuses[10:]) == {429}
        right = await client.post(
            "/api/v1/auth/token", data={"username": "ADA@example.com", "password": PASSWORD}
        )
        assert right.status_code == 429
        assert 1 <= int(right.headers["retry-after"]) <= 15 * 60
        assert right.json()["message"].startswith("too many attempts")
        clock.advance(timedelta(seconds=int(right.headers["retry-after"])))
        await _sign_in(client)  # the window ended


async def test_concurrent_guesses_cannot_slip_under_the_limit_together(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    guesses = [
        client.post("/api/v1/auth/token", data={"username": "ada@example.com", "password": f"guess {i}"})
        for i in range(40)
    ]
    statuses = sorted(r.status_code for r in await asyncio.gather(*guesses))
    assert statuses == [401] * 10 + [429] * 30  # each attempt is counted before its password is checked


async def test_limits_per_address_and_on_sign_up_are_shared_by_every_replica(
    settings: Settings, clock: FixedClock
) -> None:
    limits = {"auth_failures_per_address": 5, "auth_signups_per_address": 3}
    async with api(settings, clock, **limits) as one, api(settings, clock, **limits) as two:
        for i, replica in enumerate((one, two, one)):
            r = await replica.post(
                "/api/v1/auth/register", json={"email": f"u{i}@example.com", "password": PASSWORD}
            )
            assert r.status_code == 201, r.text
        refused = await two.post(
            "/api/v1/auth/register", json={"email": "u9@example.com", "password": PASSWORD}
        )
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
        # Failed sign-ins on different accounts from one address add up, across replicas.
        for i in range(5):
            r = await (one, two)[i % 2].post(
                "/api/v1/auth/token", data={"username": f"u{i % 3}@example.com", "password": "wrong guess"}
            )
            assert r.status_code == 401
        assert (
            await one.post("/api/v1/auth/token", data={"username": "u0@example.com", "password": PASSWORD})
        ).status_code == 429


async def test_export_holds_the_users_data_and_nothing_secret(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await sign_up(client)
    await sign_up(client, "bob@example.com")
    created = await client.post(
        "/api/v1/tasks",
        headers=headers,
        json={
            "title": "Pay rent",
            "tags": ["home"],
            "due_at": "2026-03-02T12:00:00Z",
            "reminders": [{"before": "PT1H"}],
        },
    )
    assert created.status_code == 201, created.text
    await client.post(f"/api/v1/tasks/{created.json()['id']}/complete", headers=headers)
    await runtime.drain()
    response = await client.get("/api/v1/me/export", headers=headers)
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    export = response.json()
    assert export["user"]["email"] == "ada@example.com"
    assert [t["title"] for t in export["tasks"]] == ["Pay rent"]
    assert export["tasks"][0]["tags"] == ["home"]
    assert [h["event_type"] for h in export["history"]] == ["created", "completed"]
    text = response.text
    assert "argon2" not in text and "password" not in text and "bob@example.com" not in text


async def test_deleting_the_account_makes_every_service_forget_it(
    client: httpx.AsyncClient, runtime: Runtime, clock: FixedClock
) -> None:
    headers = await sign_up(client)
    bob = await sign_up(client, "bob@example.com")
    for h in (headers, bob):
        r = await client.post(
            "/api/v1/tasks",
            headers=h,
            json={"title": "Call", "due_at": "2026-03-02T09:00:00Z", "reminders": [{"before": "PT30M"}]},
        )
        assert r.status_code == 201
    clock.advance(timedelta(minutes=31))
    await runtime.drain()
    async with runtime.uow.reader() as uow:
        ada_id = (await uow.users.by_email("ada@example.com")).id  # type: ignore[union-attr]
    assert await _count(runtime, Notification, Notification.user_id == ada_id) == 1
    assert await _count(runtime, AuditEntry, AuditEntry.user_id == ada_id) == 1
    gone_task = (await client.post("/api/v1/tasks", headers=headers, json={"title": "Deleted"})).json()
    await client.delete(f"/api/v1/tasks/{gone_task['id']}", headers=headers)  # kept for its Undo
    assert await _count(runtime, DeletedTask, DeletedTask.user_id == ada_id) == 1
    wrong = await client.request("DELETE", "/api/v1/me", headers=headers, json={"password": "nope nope"})
    assert (wrong.status_code, wrong.json()["field"]) == (401, "password")
    gone = await client.request("DELETE", "/api/v1/me", headers=headers, json={"password": PASSWORD})
    assert gone.status_code == 204, gone.text
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 401
    await runtime.drain()
    for table, column in (
        (User, User.id),
        (Task, Task.user_id),
        (Session, Session.user_id),
        (Notification, Notification.user_id),
        (AuditEntry, AuditEntry.user_id),
        (DeletedTask, DeletedTask.user_id),
    ):
        assert await _count(runtime, table, column == ada_id) == 0, table
    assert len((await client.get("/api/v1/tasks", headers=bob)).json()["items"]) == 1  # Bob keeps his
    assert len((await client.get("/api/v1/notifications", headers=bob)).json()) == 1
    await sign_up(client)  # the e-mail is free again


async def test_settings_change_with_patch_me_and_quick_add_reads_dates_in_the_users_order(
    client: httpx.AsyncClient,
) -> None:
    headers = await sign_up(client, timezone="Europe/Berlin")
    me = (await client.get("/api/v1/me", headers=headers)).json()
    assert (me["timezone"], me["date_order"]) == ("Europe/Berlin", None)

    async def parsed(text: str) -> tuple[str, str | None]:
        answer = (await client.post("/api/v1/parse", headers=headers, json={"text": text})).json()
        return answer["title"], answer["due_date"]

    assert await parsed("Dentist 10/12") == ("Dentist", "2026-12-10")  # day first until chosen
    changed = await client.patch("/api/v1/me", headers=headers, json={"date_order": "MDY", "name": "  Ada "})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["date_order"], changed.json()["name"]) == ("MDY", "Ada")
    assert await parsed("Dentist 10/12") == ("Dentist", "2026-10-12")  # at once: no cached caller is stale
    assert (await client.get("/api/v1/me", headers=headers)).json()["timezone"] == "Europe/Berlin"  # kept

    for body, field in (
        ({"date_order": "DDMM"}, "date_order"),
        ({"date_order": None}, "date_order"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": None}, "timezone"),
        ({"email": "new@example.com"}, "email"),
    ):
        answer = await client.patch("/api/v1/me", headers=headers, json=body)
        assert (answer.status_code, answer.json()["field"]) == (422, field), body
    assert (await client.get("/api/v1/me", headers=headers)).json()["date_order"] == "MDY"

    registered = await client.post(
        "/api/v1/auth/register",
        json={
            "email": "us@example.com",
            "password": PASSWORD,
            "timezone": "America/New_York",
            "date_order": "MDY",
        },
    )
    assert registered.json()["date_order"] == "MDY"

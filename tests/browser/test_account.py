"""Managing the account in a real browser: change the password, sign out everywhere, download the data, delete
the account; the user's other window (another device, its own session) is signed out live. Access tokens last
60 s on the test server, so the pages renew them silently while the test runs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import User, expect, open_app

pytestmark = pytest.mark.browser
NEW_PASSWORD = "watering can by the door"


def _settings(page: Any) -> Any:
    page.get_by_role("button", name="Settings").click()
    dialog = page.get_by_role("dialog", name="Settings")
    expect(dialog).to_be_visible()
    return dialog


def _signed_out(page: Any) -> None:
    """The sign-in form shows (the page noticed by itself: no reload, no click)."""
    expect(page.locator("#signin-form")).to_be_visible(timeout=15_000)
    expect(page.locator("#shell")).to_be_hidden()


def _sign_in(page: Any, email: str, password: str) -> None:
    form = page.locator("#signin-form")
    form.get_by_label("E-mail").fill(email)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Sign in").click()


def test_password_change_sign_out_everywhere_export_and_delete(
    new_context: Any, user: User, tmp_path: Path
) -> None:
    page = open_app(new_context(as_user=user))
    other = open_app(new_context(as_user=user))  # another device: a session of its own
    page.get_by_label("Quick add").fill("Water the ferns #home")
    page.keyboard.press("Enter")
    expect(other.locator(".task").filter(has_text="Water the ferns")).to_have_count(1)

    # A weak new password is refused with the server's reason; a right one signs the other device out live.
    dialog = _settings(page)
    dialog.get_by_label("Current password").fill(user.password)
    dialog.get_by_label("New password").fill("password1")
    dialog.get_by_role("button", name="Change password").click()
    expect(page.locator("#password-error")).to_contain_text("common")
    dialog.get_by_label("New password").fill(NEW_PASSWORD)
    dialog.get_by_role("button", name="Change password").click()
    expect(page.get_by_test_id("password-changed")).to_be_visible()
    _signed_out(other)
    _sign_in(other, user.email, user.password)
    expect(other.locator("#signin-error")).to_have_text("Wrong e-mail or password")
    _sign_in(other, user.email, NEW_PASSWORD)
    other.wait_for_selector("body[data-ready=true]")

    # The data export downloads one JSON file with the task in it.
    with page.expect_download() as download:
        dialog.get_by_role("button", name="Download my data").click()
    saved = tmp_path / "export.json"
    download.value.save_as(saved)
    export = json.loads(saved.read_text())
    assert export["user"]["email"] == user.email
    assert [t["title"] for t in export["tasks"]] == ["Water the ferns"]

    # Sign out everywhere: this window and the other one.
    dialog.get_by_role("button", name="Sign out everywhere").click()
    _signed_out(page)
    _signed_out(other)

    # Delete the account: a wrong password is named; then the account is gone and cannot sign in.
    _sign_in(page, user.email, NEW_PASSWORD)
    page.wait_for_selector("body[data-ready=true]")
    other.reload()
    _sign_in(other, user.email, NEW_PASSWORD)
    other.wait_for_selector("body[data-ready=true]")
    dialog = _settings(page)
    dialog.get_by_label("Password", exact=True).fill("not my password")
    page.once("dialog", lambda confirm: confirm.accept())
    dialog.get_by_role("button", name="Delete my account").click()
    expect(page.locator("#delete-error")).to_have_text("Wrong e-mail or password")
    dialog.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    page.once("dialog", lambda confirm: confirm.accept())
    dialog.get_by_role("button", name="Delete my account").click()
    _signed_out(page)
    _signed_out(other)
    r = httpx.post(f"{user.base}/api/v1/auth/token", data={"username": user.email, "password": NEW_PASSWORD})
    assert r.status_code == 401


def test_the_page_keeps_working_across_token_renewals(new_context: Any, user: User) -> None:
    context = new_context(as_user=user)
    renewals: list[int] = []
    context.on(
        "response",
        lambda r: renewals.append(r.status) if r.url.endswith("/api/v1/auth/token") else None,
    )
    page = open_app(context)
    # The test server's access tokens live 60 s; the page renews them ~5 s after each renewal.
    deadline = time.monotonic() + 30
    while len(renewals) < 3 and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    assert renewals[:3] == [200, 200, 200], renewals
    # The socket took each new token in place: changes still arrive live, and nothing failed with 401.
    with httpx.Client(
        base_url=f"{user.base}/api/v1", headers={"Authorization": f"Bearer {user.token}"}
    ) as api:
        assert api.post("/tasks", json={"title": "Made elsewhere"}).status_code == 201
    expect(page.locator(".task").filter(has_text="Made elsewhere")).to_have_count(1, timeout=10_000)
    assert page.evaluate("document.body.dataset.live") == "open"

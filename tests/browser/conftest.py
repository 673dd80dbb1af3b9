"""Browser-test fixtures: the real server in a subprocess, Debian's Chromium via Playwright, users, helpers.

Tests skip (with the reason) when Chromium or Playwright is missing; under CI (env CI set) they fail instead.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from taskstream.devkafka import free_port

try:  # tests take `expect` from here, so a missing Playwright skips (or fails under CI) instead of erroring
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - reported by the `server` fixture
    expect = None  # type: ignore[assignment]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("TASKSTREAM_CHROMIUM", "/usr/bin/chromium"))
AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "test-artifacts" / "screenshots"
ZONE = "Europe/Berlin"
PASSWORD = "correct horse 42"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def _missing_reason() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright (Python) is not installed"
    if not CHROMIUM.exists():
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    return None


def require(what: str | None) -> None:
    """Skip with `what` as the reason, or fail when running under CI."""
    if what is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run in CI: {what}")
    pytest.skip(what)


@pytest.fixture(scope="package")  # ends with tests/browser: its event loop must not outlive it
def server() -> Iterator[str]:
    """Base URL of a real `taskstream up` (embedded mode) on a free port with a fresh data dir."""
    require(_missing_reason())
    data = Path(tempfile.mkdtemp(prefix="taskstream-browser-"))
    with running_up(data) as base:
        yield base
    shutil.rmtree(data, ignore_errors=True)


@contextmanager
def running_up(data: Path, *options: str, ready_timeout_s: float = 40) -> Iterator[str]:
    """`taskstream up [options]` on a free port with its data in `data`; yields its base URL, stops it."""
    port = free_port()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    # Every test signs up from 127.0.0.1; access tokens live the shortest time allowed, so the pages renew
    # them (every few seconds) throughout the browser tests.
    env |= {"TASKSTREAM_AUTH_SIGNUPS_PER_ADDRESS": "100000", "TASKSTREAM_TOKEN_TTL_S": "60"}
    log_path = data / "server.log"
    data.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "taskstream",
                "up",
                "--port",
                str(port),
                "--data-dir",
                str(data / "db"),
                *options,
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_timeout_s
    while True:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(
                f"server did not become ready within {ready_timeout_s} s:\n{log_path.read_text()[-3000:]}"
            )
        time.sleep(0.2)
    try:
        yield base
    finally:
        process.send_signal(signal.SIGINT)  # as Ctrl-C: `up --bus kafka` stops its children in order
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="package")  # ends with tests/browser: its event loop must not outlive it
def browser() -> Iterator[Any]:
    """Debian's headless Chromium driven by Playwright (never a downloaded browser)."""
    require(_missing_reason())
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class User:
    email: str
    password: str
    token: str
    base: str

    def api(self) -> httpx.Client:
        """An HTTP client authenticated as this user."""
        return httpx.Client(
            base_url=f"{self.base}/api/v1", headers={"Authorization": f"Bearer {self.token}"}, timeout=10
        )


def register(base: str, *, zone: str = ZONE) -> User:
    """A fresh account made through the API (the UI sign-up has its own test)."""
    email = f"u{uuid.uuid4().hex[:10]}@example.com"
    r = httpx.post(
        f"{base}/api/v1/auth/register", json={"email": email, "password": PASSWORD, "timezone": zone}
    )
    assert r.status_code == 201, r.text
    return User(email, PASSWORD, token_for(base, email, PASSWORD), base)


def sign_in(base: str, email: str, password: str) -> dict[str, Any]:
    r = httpx.post(f"{base}/api/v1/auth/token", data={"username": email, "password": password})
    assert r.status_code == 200, r.text
    return dict(r.json())


def token_for(base: str, email: str, password: str) -> str:
    return str(sign_in(base, email, password)["access_token"])


def session_cookie(base: str, user: User) -> dict[str, Any]:
    """The refresh cookie of a new session of `user`, as the server sets it at sign-in."""
    refresh = sign_in(base, user.email, user.password)["refresh_token"]
    host = base.split("//", 1)[1].split(":", 1)[0]
    return {
        "name": "taskstream_refresh",
        "value": refresh,
        "domain": host,
        "path": "/api/v1/auth",
        "httpOnly": True,
        "sameSite": "Strict",
    }


@pytest.fixture
def user(server: str) -> User:
    return register(server)


@pytest.fixture
def new_context(browser: Any, server: str) -> Iterator[Any]:
    """Factory of browser contexts in the test zone; each page's console errors fail the test."""
    contexts: list[Any] = []
    errors: list[str] = []

    def make(*, viewport: dict[str, int] = DESKTOP, as_user: User | None = None, **options: Any) -> Any:
        # The tests inject axe-core as an inline script, which the app's Content-Security-Policy refuses:
        # their contexts bypass it. test_csp.py runs the app and /docs under the policy (bypass_csp=False).
        options.setdefault("bypass_csp", True)
        context = browser.new_context(
            viewport=viewport, timezone_id=ZONE, locale="en-GB", base_url=server, **options
        )
        if as_user is not None:  # a session of its own, as signing in through the form would open
            context.add_cookies([session_cookie(server, as_user)])
        context.on("weberror", lambda e: errors.append(str(e.error)))
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


def open_app(context: Any, path: str = "/") -> Any:
    """A page of the app, signed in (token set by the context) and ready."""
    page = context.new_page()
    page.goto(path)
    page.wait_for_selector("body[data-ready=true]")
    wait_live(page)
    return page


def wait_live(page: Any) -> None:
    """Wait until the page's WebSocket said ready (the connection banner is hidden and a socket is open)."""
    page.wait_for_function("() => document.body.dataset.live === 'open'", timeout=10_000)


def short(day: date) -> str:
    """The UI's short date: "Wed 2 Dec"."""
    days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    return f"{days[day.weekday()]} {day.day} {months[day.month - 1]}"


def screenshot(page: Any, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def task_titles(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("#task-list .task-title").all_inner_texts()]

"""Command-line client of a running taskstream: register, login, logout, add (natural language), ls, done, rm
(show, edit and restore are in task_detail.py)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Generator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import httpx
import typer
from rich.console import Console
from rich.table import Table

from taskstream.domain.errors import ValidationError
from taskstream.domain.recurrence import describe

client_app = typer.Typer(help="Talk to a running taskstream server.", no_args_is_help=True)
console = Console()

DEFAULT_SERVER = "http://127.0.0.1:8000"
Server = Annotated[str | None, typer.Option(help="Server URL (default: the one you logged in to)")]


def credentials_path() -> Path:
    """Where `login` keeps the server URL and token: $XDG_CONFIG_HOME/taskstream/credentials.json."""
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "taskstream" / "credentials.json"


def _saved() -> dict[str, str]:
    path = credentials_path()
    return json.loads(path.read_text()) if path.exists() else {}


def _save(credentials: dict[str, str]) -> None:
    """Write the credentials file, readable by its owner only from the start (mode 0600)."""
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(credentials, out)
    path.chmod(0o600)  # a file made by an older version may have other modes


class SessionAuth(httpx.Auth):
    """Bearer auth that renews an expired access token with the saved refresh token (saving both)."""

    def __init__(self, credentials: dict[str, str]) -> None:
        self.credentials = credentials

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.credentials['token']}"
        response = yield request
        if response.status_code != 401 or not self.credentials.get("refresh_token"):
            return
        response.read()
        if response.json().get("field"):  # a wrong password, not an ended session
            return
        renewed = yield httpx.Request(
            "POST",
            request.url.copy_with(path="/api/v1/auth/token", query=None),
            data={"grant_type": "refresh_token", "refresh_token": self.credentials["refresh_token"]},
        )
        if renewed.status_code != 200:
            return
        renewed.read()
        tokens = renewed.json()
        self.credentials |= {"token": tokens["access_token"], "refresh_token": tokens["refresh_token"]}
        _save(self.credentials)
        request.headers["Authorization"] = f"Bearer {self.credentials['token']}"
        yield request


def _session(server: str | None) -> httpx.Client:
    saved = _saved()
    url = server or saved.get("server") or DEFAULT_SERVER
    if not saved.get("token") or saved.get("server", url) != url:
        console.print("[red]Not logged in.[/] Run: taskstream login --email you@example.com")
        raise typer.Exit(2)
    return httpx.Client(base_url=url, auth=SessionAuth(saved), timeout=10)


def _check(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            message = response.json().get("message", response.text)
        except ValueError:
            message = response.text
        console.print(f"[red]Error {response.status_code}:[/] {message}")
        raise typer.Exit(1)
    return response.json() if response.content else None


def _when(task: dict[str, Any], tz: str) -> str:
    if task.get("due_at"):
        return datetime.fromisoformat(task["due_at"]).astimezone(ZoneInfo(tz)).strftime("%a %d %b %Y %H:%M")
    if task.get("due_date"):
        return datetime.fromisoformat(task["due_date"]).strftime("%a %d %b %Y")
    return ""


Email = Annotated[str | None, typer.Option(help="Asked for when left out")]
Password = Annotated[str | None, typer.Option(help="Asked for (hidden) when left out")]


@client_app.command()
def register(
    email: Email = None,
    password: Password = None,
    timezone: Annotated[str, typer.Option(help="Your IANA time zone")] = "UTC",
    server: Server = None,
) -> None:
    """Create an account (then log in)."""
    email = email or str(typer.prompt("Email"))
    if password is None:
        password = str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))
    with httpx.Client(base_url=server or DEFAULT_SERVER, timeout=10) as http:
        user = _check(
            http.post(
                "/api/v1/auth/register", json={"email": email, "password": password, "timezone": timezone}
            )
        )
    console.print(f"Registered {user['email']} ({user['timezone']}).")
    login(email=email, password=password, server=server)


@client_app.command()
def login(
    email: Email = None,
    password: Password = None,
    server: Server = None,
) -> None:
    """Sign in and keep the session's tokens (file mode 0600); the access token is renewed as needed."""
    email = email or str(typer.prompt("Email"))
    if password is None:
        password = str(typer.prompt("Password", hide_input=True))
    url = server or DEFAULT_SERVER
    with httpx.Client(base_url=url, timeout=10) as http:
        token = _check(http.post("/api/v1/auth/token", data={"username": email, "password": password}))
    _save({"server": url, "token": token["access_token"], "refresh_token": token["refresh_token"]})
    console.print(f"Logged in to {url} as {email}.")


@client_app.command()
def logout(
    everywhere: Annotated[bool, typer.Option(help="Sign out every session of the account")] = False,
    server: Server = None,
) -> None:
    """Sign out on the server and forget the saved tokens."""
    with _session(server) as http:
        _check(http.post("/api/v1/auth/logout", params={"everywhere": everywhere}))
    credentials_path().unlink(missing_ok=True)
    console.print("Signed out everywhere." if everywhere else "Signed out.")


@client_app.command()
def add(
    text: Annotated[
        list[str], typer.Argument(help='e.g. "Pay rent every month on the 1st 9am !high #bills"')
    ],
    estimate: Annotated[
        int | None, typer.Option(help="Expected duration in minutes (1-1440)", min=1, max=1440)
    ] = None,
    server: Server = None,
) -> None:
    """Add a task written in natural language; prints what was understood."""
    with _session(server) as http:
        me = _check(http.get("/api/v1/me"))
        parsed = _check(http.post("/api/v1/parse", json={"text": " ".join(text)}))
        fields = {
            k: parsed[k]
            for k in (
                "title",
                "due_at",
                "due_date",
                "recurrence",
                "repeat_from",
                "priority",
                "tags",
                "reminders",
            )
            if parsed.get(k) not in (None, [])
        }
        if estimate is not None:
            fields["estimate_minutes"] = estimate
        task = _check(http.post("/api/v1/tasks", json=fields))
    console.print(f"Added [bold]{task['title']}[/] ({task['id'][:8]})")
    for label, value in (
        ("due", _when(task, me["timezone"])),
        ("repeats", _repeats(task)),
        ("priority", task["priority"] if task["priority"] != "none" else None),
        ("tags", ", ".join(task["tags"])),
        ("estimate", _minutes(task.get("estimate_minutes"))),
        ("reminders", ", ".join(r["before"] or r["at"] for r in task["reminders"])),
    ):
        if value:
            console.print(f"  {label}: {value}")
    if parsed.get("unparsed"):
        console.print(f"  [yellow]not understood:[/] {', '.join(parsed['unparsed'])}")


@client_app.command("ls")
def list_tasks(
    q: Annotated[str | None, typer.Option(help="Search title and description")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Only tasks with this tag (repeatable)")] = None,
    overdue: Annotated[bool, typer.Option(help="Only overdue tasks")] = False,
    done: Annotated[bool, typer.Option(help="Completed tasks instead of open ones")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="The tasks as the API gives them (a JSON list)")
    ] = False,
    server: Server = None,
) -> None:
    """List your tasks, soonest due first."""
    params: dict[str, Any] = {"completed": str(done).lower(), "limit": 200}
    if q:
        params["q"] = q
    if tag:
        params["tag"] = tag
    if overdue:
        params["overdue"] = "true"
    with _session(server) as http:
        me = _check(http.get("/api/v1/me"))
        page = _check(http.get("/api/v1/tasks", params=params))
    if as_json:
        typer.echo(json.dumps(page["items"], indent=2, ensure_ascii=False))
        return
    table = Table("id", "title", "due", "priority", "estimate", "tags", "repeats")
    for task in page["items"]:
        table.add_row(
            task["id"][:8],
            task["title"],
            _when(task, me["timezone"]),
            task["priority"],
            _minutes(task.get("estimate_minutes")),
            " ".join(f"#{t}" for t in task["tags"]),
            _repeats(task),
        )
    console.print(table if page["items"] else "No tasks.")


def _minutes(minutes: int | None) -> str:
    """An estimate as people say it: "45 min", "1 h", "1 h 30 min" ("" for none)."""
    if not minutes:
        return ""
    hours, rest = divmod(minutes, 60)
    return " ".join(part for part in (f"{hours} h" if hours else "", f"{rest} min" if rest else "") if part)


def _repeats(task: dict[str, Any]) -> str:
    """The task's recurrence in words ("every 2 days"; "…, from completion")."""
    rule = task.get("recurrence")
    if not rule:
        return ""
    try:
        words = describe(rule)
    except ValidationError:
        words = rule
    return f"{words}, from completion" if task.get("repeat_from") == "completion" else words


MIN_PREFIX = 4  # one or two characters match too easily by accident


def _resolve(http: httpx.Client, prefix: str) -> str:
    if len(prefix) < MIN_PREFIX:
        console.print(
            f"[red]Give at least {MIN_PREFIX} characters of the task id[/] (`taskstream ls` shows 8)."
        )
        raise typer.Exit(2)
    page = _check(http.get("/api/v1/tasks", params={"limit": 200, "sort": "-created"}))
    matches = [t["id"] for t in page["items"] if t["id"].startswith(prefix)]
    if len(matches) != 1:
        console.print(f"[red]{'No' if not matches else 'More than one'} task matches {prefix!r}.[/]")
        raise typer.Exit(1)
    return matches[0]


@client_app.command()
def done(
    task_id: Annotated[str, typer.Argument(help="Task id or its first characters")], server: Server = None
) -> None:
    """Complete a task (a recurring one gets its next occurrence)."""
    with _session(server) as http:
        task = _check(http.post(f"/api/v1/tasks/{_resolve(http, task_id)}/complete"))
        following = _next_occurrence(http, task) if task.get("recurrence") else None
        tz = _check(http.get("/api/v1/me"))["timezone"] if following else "UTC"
    console.print(f"Completed [bold]{task['title']}[/].")
    if following is not None:
        console.print(f"  next: {_when(following, tz)} ({following['id'][:8]})")
    elif task.get("recurrence"):
        console.print("  the next occurrence is on its way (`taskstream ls` shows it)")


def _next_occurrence(
    http: httpx.Client, done: dict[str, Any], within_s: float = 5.0
) -> dict[str, Any] | None:
    """The open task of `done`'s series the recurring service makes (None if it has not come within_s)."""
    deadline = time.monotonic() + within_s
    while True:
        page = _check(
            http.get("/api/v1/tasks", params={"limit": 50, "sort": "-created", "completed": "false"})
        )
        made = [
            t for t in page["items"] if t.get("series_id") == done.get("series_id") and t["id"] != done["id"]
        ]
        if made or time.monotonic() > deadline:
            return made[0] if made else None
        time.sleep(0.2)


@client_app.command()
def rm(
    task_id: Annotated[str, typer.Argument(help="Task id or its first characters")], server: Server = None
) -> None:
    """Delete a task (`taskstream restore ID` brings it back within 7 days)."""
    with _session(server) as http:
        full_id = _resolve(http, task_id)
        _check(http.delete(f"/api/v1/tasks/{full_id}"))
    console.print(f"Deleted. Undo: taskstream restore {full_id[:8]}")

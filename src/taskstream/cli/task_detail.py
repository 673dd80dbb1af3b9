"""`show`, `edit` and `restore`: one task in full with its history in words, changed with quick-add phrases,
brought back after `rm`."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import httpx
import typer

from taskstream.cli.client import (
    MIN_PREFIX,
    Server,
    _check,
    _minutes,
    _repeats,
    _resolve,
    _session,
    _when,
    client_app,
    console,
)
from taskstream.domain.errors import ValidationError
from taskstream.domain.recurrence import describe

TaskId = Annotated[str, typer.Argument(help="Task id or its first characters")]
EVENT_WORDS = {"created": "Created", "updated": "Edited", "completed": "Completed", "reopened": "Reopened"}
EVENT_WORDS |= {"deleted": "Deleted", "restored": "Restored"}
LABELS = {"title": "Title", "priority": "Priority", "timezone": "Time zone", "recurrence": "Repeats"}
LABELS |= {"repeat_from": "Repeats from", "estimate_minutes": "Estimate", "keep_missed": "Missed occurrences"}
HIDDEN = {"version", "updated_at", "due_sort", "series_anchor", "occurrence_key", "completed", "completed_at"}


def _moment(value: str | None, tz: str) -> str:
    """A due value of the history (RFC 3339 instant or ISO date) as "Thu 03 Dec 09:00" / "Thu 03 Dec"."""
    if not value:
        return "none"
    if len(value) == 10:
        return date.fromisoformat(value).strftime("%a %d %b %Y")
    return datetime.fromisoformat(value).astimezone(ZoneInfo(tz)).strftime("%a %d %b %Y %H:%M")


def _value(field: str, value: Any) -> str:
    if value in (None, "", []):
        return "none"
    if field == "recurrence":
        try:
            return describe(value)
        except ValidationError:
            return str(value)
    if field == "estimate_minutes":
        return _minutes(value)
    if field == "keep_missed":
        return "kept" if value else "skipped"
    if field == "repeat_from":
        return "completion" if value == "completion" else "due date"
    return f"“{value}”" if field == "title" else str(value)


def change_lines(changes: dict[str, Any], tz: str) -> list[str]:
    """An edit's changes ({field: {old, new}}) in words, one line per field: "Due: Thu 03 Dec 2026 09:00 →
    Fri 04 Dec 2026 17:00", "Tags: added #home", "Priority: none → high"."""
    lines = []
    if "due_at" in changes or "due_date" in changes:
        at, on = changes.get("due_at") or {}, changes.get("due_date") or {}
        before, after = at.get("old") or on.get("old"), at.get("new") or on.get("new")
        lines.append(f"Due: {_moment(before, tz)} → {_moment(after, tz)}")
    for field, change in changes.items():
        if field in HIDDEN or field in ("due_at", "due_date") or not isinstance(change, dict):
            continue
        if field == "tags":
            old, new = change.get("old") or [], change.get("new") or []
            parts = [f"added {' '.join('#' + t for t in new if t not in old)}"] if set(new) - set(old) else []
            parts += (
                [f"removed {' '.join('#' + t for t in old if t not in new)}"] if set(old) - set(new) else []
            )
            lines.append(f"Tags: {'; '.join(parts)}")
        elif field in ("description", "reminders"):
            lines.append(f"{field.capitalize()} changed")
        else:
            label = LABELS.get(field, field.replace("_", " ").capitalize())
            lines.append(f"{label}: {_value(field, change.get('old'))} → {_value(field, change.get('new'))}")
    return lines


def _summary(task: dict[str, Any], tz: str) -> list[tuple[str, str]]:
    reminders = [r["before"] or _moment(r["at"], tz) for r in task["reminders"]]
    return [
        (label, value)
        for label, value in (
            ("due", _when(task, tz)),
            ("repeats", _repeats(task)),
            ("priority", task["priority"] if task["priority"] != "none" else ""),
            ("tags", " ".join(f"#{t}" for t in task["tags"])),
            ("estimate", _minutes(task.get("estimate_minutes"))),
            ("reminders", ", ".join(reminders)),
            ("status", f"completed {_moment(task['completed_at'], tz)}" if task["completed"] else "open"),
            ("description", task.get("description") or ""),
        )
        if value
    ]


def _open(http: httpx.Client, prefix: str) -> tuple[str, dict[str, Any]]:
    """The user's zone and the task whose id starts with `prefix` (exits with the reason otherwise)."""
    tz: str = _check(http.get("/api/v1/me"))["timezone"]
    return tz, _check(http.get(f"/api/v1/tasks/{_resolve(http, prefix)}"))


@client_app.command()
def show(
    task_id: TaskId,
    as_json: Annotated[
        bool, typer.Option("--json", help="The task and its history as the API gives them")
    ] = False,
    server: Server = None,
) -> None:
    """One task in full, with its history in words (newest first)."""
    with _session(server) as http:
        tz, task = _open(http, task_id)
        history = _check(http.get(f"/api/v1/tasks/{task['id']}/history"))
    if as_json:
        typer.echo(json.dumps({"task": task, "history": history}, indent=2, ensure_ascii=False))
        return
    console.print(f"[bold]{task['title']}[/] ({task['id']})", highlight=False)
    for label, value in _summary(task, tz):
        console.print(f"  {label}: {value}", highlight=False)
    console.print("History:")
    for entry in history:
        actor = "you" if entry["actor"] == "user" else entry["actor"]
        when = _moment(entry["occurred_at"], tz)
        console.print(f"  {when}  {EVENT_WORDS.get(entry['event_type'], entry['event_type'])} by {actor}")
        if entry["event_type"] == "updated":
            for line in change_lines(entry["changes"], tz):
                console.print(f"      {line}", highlight=False)


def _parse_for(http: httpx.Client, text: str, task: dict[str, Any], tz: str) -> dict[str, Any]:
    """/parse of an edit's text; when it names no date of its own, read against the task's due, so
    "remind 2h before" counts from it (the due itself is then left as it is)."""
    parsed: dict[str, Any] = _check(http.post("/api/v1/parse", json={"text": text}))
    due = task.get("due_at") or task.get("due_date")
    if parsed["due_at"] or parsed["due_date"] or not due:
        return parsed
    written = (
        datetime.fromisoformat(due).astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
        if task["due_at"]
        else due
    )
    again: dict[str, Any] = _check(http.post("/api/v1/parse", json={"text": f"{text} {written}"}))
    return again | {"due_at": None, "due_date": None}


def _edits(parsed: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
    """The PATCH body of what a quick-add line says: a title if one is left, the due it names (the other
    kind cleared), a rule, a priority; tags and reminders are added to the task's."""
    body: dict[str, Any] = {}
    if parsed["title"]:
        body["title"] = parsed["title"]
    if parsed["due_at"] or parsed["due_date"]:
        body |= {"due_at": parsed["due_at"], "due_date": parsed["due_date"]}
    if parsed["recurrence"]:
        body |= {"recurrence": parsed["recurrence"], "repeat_from": parsed["repeat_from"]}
    if parsed["priority"] not in (None, "none"):
        body["priority"] = parsed["priority"]
    if set(parsed["tags"]) - set(task["tags"]):
        body["tags"] = task["tags"] + [t for t in parsed["tags"] if t not in task["tags"]]
    if parsed["reminders"]:
        mine = [{"before": r["before"]} if r["before"] else {"at": r["at"]} for r in task["reminders"]]
        body["reminders"] = mine + parsed["reminders"]
    return body


@client_app.command()
def edit(
    task_id: TaskId,
    text: Annotated[
        list[str] | None,
        typer.Argument(help='Quick-add phrases, e.g. "friday 5pm !high #work" or "Call Ann tomorrow"'),
    ] = None,
    description: Annotated[str | None, typer.Option(help='A new description ("" clears it)')] = None,
    estimate: Annotated[int | None, typer.Option(help="Minutes (1-1440)", min=1, max=1440)] = None,
    server: Server = None,
) -> None:
    """Change a task with the phrases quick add reads; prints what changed."""
    with _session(server) as http:
        tz, task = _open(http, task_id)
        body: dict[str, Any] = {}
        if text:
            parsed = _parse_for(http, " ".join(text), task, tz)
            if parsed.get("unparsed"):
                console.print(
                    f"[yellow]not understood:[/] {', '.join(parsed['unparsed'])}; nothing was changed"
                )
                raise typer.Exit(1)
            body = _edits(parsed, task)
        if description is not None:
            body["description"] = description or None
        if estimate is not None:
            body["estimate_minutes"] = estimate
        if not body:
            console.print("Nothing to change.")
            raise typer.Exit(1)
        headers = {"If-Match": f'"{task["version"]}"'}  # a change made meanwhile is not overwritten
        changed = _check(http.patch(f"/api/v1/tasks/{task['id']}", json=body, headers=headers))
    if changed["version"] == task["version"]:
        console.print("Nothing changed: the task already reads so.")
        return
    console.print(f"Saved [bold]{changed['title']}[/].", highlight=False)
    before = dict(_summary(task, tz))
    for label, value in _summary(changed, tz):
        if before.get(label) != value:
            console.print(f"  {label}: {before.get(label) or 'none'} → {value}", highlight=False)


def _deleted(http: httpx.Client, prefix: str) -> str:
    """The id of the caller's recently deleted task that starts with `prefix` (from the audit log)."""
    if len(prefix) < MIN_PREFIX:
        console.print(f"[red]Give at least {MIN_PREFIX} characters of the task id.[/]")
        raise typer.Exit(2)
    entries = _check(http.get("/api/v1/audit", params={"limit": 500}))
    ids = {e["task_id"] for e in entries if e["event_type"] == "deleted" and e["task_id"].startswith(prefix)}
    if len(ids) != 1:
        console.print(f"[red]{'No' if not ids else 'More than one'} deleted task matches {prefix!r}.[/]")
        raise typer.Exit(1)
    return ids.pop()


@client_app.command()
def restore(task_id: TaskId, server: Server = None) -> None:
    """Bring back a task deleted in the last 7 days (same id, tags and reminders)."""
    with _session(server) as http:
        task = _check(http.post(f"/api/v1/tasks/{_deleted(http, task_id)}/restore"))
    console.print(f"Restored [bold]{task['title']}[/] ({task['id'][:8]}).", highlight=False)

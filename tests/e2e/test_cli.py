"""The command-line client against the real server: register, add in natural language, list, complete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taskstream.cli.main import app
from tests.e2e.server import Server


def test_cli_flow(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    runner = CliRunner()
    url = ["--server", server.base]
    result = runner.invoke(
        app,
        [
            "register",
            "--email",
            "cli@example.com",
            "--password",
            "long enough",
            "--timezone",
            "Europe/Paris",
            *url,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Logged in" in result.output
    assert (tmp_path / "config" / "taskstream" / "credentials.json").stat().st_mode & 0o777 == 0o600

    result = runner.invoke(app, ["add", "Pay rent every month on the 1st 9am !high #bills remind 1d before"])
    assert result.exit_code == 0, result.output
    assert "Added Pay rent" in result.output
    assert "repeats: monthly on the 1st" in result.output  # in words, not the RRULE
    assert "priority: high" in result.output and "tags: bills" in result.output and "P1D" in result.output
    assert "09:00" in result.output

    result = runner.invoke(app, ["ls", "--tag", "bills"])
    assert result.exit_code == 0 and "Pay rent" in result.output
    task_id = next(line.split()[1] for line in result.output.splitlines() if "Pay rent" in line)

    assert "monthly" in result.output and "FREQ=" not in result.output  # the table wraps at 80 columns
    listed = runner.invoke(app, ["ls", "--tag", "bills", "--json"])
    assert listed.exit_code == 0 and [t["title"] for t in json.loads(listed.output)] == ["Pay rent"]

    result = runner.invoke(app, ["done", task_id[:1]])
    assert result.exit_code == 2 and "at least 4 characters" in result.output  # a guess is not an id
    result = runner.invoke(app, ["done", task_id])
    assert result.exit_code == 0 and "Completed Pay rent" in result.output
    assert "next: " in result.output and "09:00" in result.output, result.output  # the next occurrence
    result = runner.invoke(app, ["ls", "--done"])
    assert "Pay rent" in result.output
    helped = runner.invoke(app, ["register", "--help"], terminal_width=200)
    assert "required" not in helped.output and "Asked for" in helped.output  # prompted, not required

    result = runner.invoke(app, ["add", "Write the report", "--estimate", "90"])
    assert result.exit_code == 0 and "estimate: 1 h 30 min" in result.output, result.output
    result = runner.invoke(app, ["ls", "--q", "report"])
    assert "1 h 30 min" in result.output, result.output
    result = runner.invoke(app, ["add", "Too long", "--estimate", "1441"])
    assert result.exit_code == 2 and "--estimate" in result.output  # refused before anything is sent

    result = runner.invoke(app, ["done", "zzzz"])
    assert result.exit_code == 1 and "No task matches" in result.output

    # An access token that stopped working is renewed with the saved refresh token, silently.
    path = tmp_path / "config" / "taskstream" / "credentials.json"
    saved = json.loads(path.read_text())
    path.write_text(json.dumps(saved | {"token": "expired.or.revoked"}))
    result = runner.invoke(app, ["ls", "--done"])
    assert result.exit_code == 0 and "Pay rent" in result.output, result.output
    renewed = json.loads(path.read_text())
    assert renewed["token"] != "expired.or.revoked" and renewed["refresh_token"] != saved["refresh_token"]
    assert path.stat().st_mode & 0o777 == 0o600

    result = runner.invoke(app, ["logout"])
    assert result.exit_code == 0 and "Signed out" in result.output
    assert not path.exists()
    result = runner.invoke(app, ["ls", *url])
    assert result.exit_code == 2 and "Not logged in" in result.output


def test_cli_show_edit_rm_restore(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    runner = CliRunner()
    url = ["--server", server.base]
    registered = runner.invoke(
        app,
        ["register", "--email", "edit@example.com", "--password", "long enough", "--timezone", "UTC", *url],
    )
    assert registered.exit_code == 0, registered.output
    added = runner.invoke(app, ["add", "Write report 2030-03-04 9am #work"])
    assert added.exit_code == 0, added.output
    [task] = json.loads(runner.invoke(app, ["ls", "--json"]).output)
    short = task["id"][:8]

    edited = runner.invoke(app, ["edit", short, "2030-03-05 5pm !high #urgent-ish every week"])
    assert edited.exit_code == 0, edited.output
    assert "Saved Write report." in edited.output
    assert "due: Mon 04 Mar 2030 09:00 → Tue 05 Mar 2030 17:00" in edited.output
    assert "priority: none → high" in edited.output and "tags: #work → #work #urgent-ish" in edited.output
    assert "repeats: none → every week" in edited.output
    renamed = runner.invoke(app, ["edit", short, "Write the report", "--estimate", "90"])
    assert renamed.exit_code == 0 and "estimate: none → 1 h 30 min" in renamed.output, renamed.output
    assert runner.invoke(app, ["edit", short]).exit_code == 1  # nothing to change
    reminded = runner.invoke(app, ["edit", short, "remind me 2h before"])  # counts from the task's own due
    assert reminded.exit_code == 0 and "reminders: none → PT2H" in reminded.output, reminded.output
    unread = runner.invoke(app, ["edit", short, "every blue moon"])
    assert unread.exit_code == 1 and "not understood: every blue moon; nothing was changed" in unread.output
    same = runner.invoke(app, ["edit", short, "!high"])
    assert same.exit_code == 0 and "Nothing changed" in same.output, same.output

    shown = runner.invoke(app, ["show", short], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    lines = [line.strip() for line in shown.output.splitlines()]
    assert lines[0] == f"Write the report ({task['id']})"
    assert "due: Tue 05 Mar 2030 17:00" in lines and "estimate: 1 h 30 min" in lines
    history = lines[lines.index("History:") + 1 :]
    assert [line.split("  ")[-1] for line in history if " by " in line] == [
        "Edited by you",
        "Edited by you",
        "Edited by you",
        "Created by you",
    ]
    assert "Due: Mon 04 Mar 2030 09:00 → Tue 05 Mar 2030 17:00" in history
    assert "Title: “Write report” → “Write the report”" in history and "Tags: added #urgent-ish" in history
    as_json = json.loads(runner.invoke(app, ["show", short, "--json"]).output)
    assert as_json["task"]["id"] == task["id"] and len(as_json["history"]) == 4

    removed = runner.invoke(app, ["rm", short])
    assert removed.exit_code == 0 and f"taskstream restore {short}" in removed.output
    assert json.loads(runner.invoke(app, ["ls", "--json"]).output) == []
    restored = runner.invoke(app, ["restore", short])
    assert restored.exit_code == 0 and "Restored Write the report" in restored.output, restored.output
    [back] = json.loads(runner.invoke(app, ["ls", "--json"]).output)
    assert (back["id"], back["tags"]) == (task["id"], ["urgent-ish", "work"])
    assert runner.invoke(app, ["restore", "ffff0000"]).exit_code == 1

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

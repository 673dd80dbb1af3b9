"""A full disk says so: `taskstream up` with its data directory on a 16 MiB tmpfs that a filler file then
fills. Creates answer 507 naming the disk and change nothing, /readyz fails naming the database file, the log
names it too, and once the filler is gone everything works again by itself; no acknowledged task is lost.
Mounting a tmpfs needs root (CI runs as root)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import unavailable
from tests.e2e.server import Server


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        unavailable(f"cannot mount a tmpfs (needs root): {made.stderr.strip() or made.returncode}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the filesystem refuses more."""
    filler = disk / "filler"
    chunk = b"\0" * (256 * 1024)
    with filler.open("wb") as out:
        try:
            while True:
                out.write(chunk)
                out.flush()
        except OSError:
            pass
    return filler


def test_a_full_disk_answers_507_fails_readiness_and_recovers_once_there_is_room(
    small_disk: Path, tmp_path: Path
) -> None:
    server = Server(small_disk / "data", log=tmp_path / "server.log")
    server.start()
    try:
        with httpx.Client(base_url=server.base, timeout=15) as http:
            body = {"email": "full@example.com", "password": "correct horse", "timezone": "UTC"}
            assert http.post("/api/v1/auth/register", json=body).status_code == 201
            form = {"username": "full@example.com", "password": "correct horse"}
            headers = {
                "Authorization": f"Bearer {http.post('/api/v1/auth/token', data=form).json()['access_token']}"
            }
            acknowledged: list[str] = []
            filler = fill(small_disk)
            refused = None
            for n in range(400):  # the WAL and free pages may take some writes yet
                answer = http.post(
                    "/api/v1/tasks", json={"title": f"task {n}", "description": "x" * 4000}, headers=headers
                )
                if answer.status_code == 201:
                    acknowledged.append(answer.json()["id"])
                    continue
                refused = answer
                break
            assert refused is not None, "the full disk never refused a write"
            assert refused.status_code == 507, refused.text
            assert (
                refused.json()["message"]
                == "the server is out of disk space; nothing was changed, try again later"
            )
            assert refused.headers["retry-after"] == "30"
            ready = http.get("/readyz")
            assert ready.status_code == 503 and "out of disk space" in ready.json()["message"]
            assert str(small_disk / "data" / "taskstream.db") in ready.json()["message"]

            filler.unlink()
            deadline = time.monotonic() + 30
            while http.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline, http.get("/readyz").text
                time.sleep(0.2)
            again = http.post("/api/v1/tasks", json={"title": "after the disk was freed"}, headers=headers)
            assert again.status_code == 201, again.text
            listed = {t["id"] for t in http.get("/api/v1/tasks?limit=200", headers=headers).json()["items"]}
            assert set(acknowledged) | {again.json()["id"]} <= listed  # nothing acknowledged was lost
            assert len(listed) == len(acknowledged) + 1  # and the refused write left nothing
    finally:
        server.stop()
    log = (tmp_path / "server.log").read_text()
    assert "out of disk space" in log and str(small_disk / "data" / "taskstream.db") in log
    assert "has room again" in log

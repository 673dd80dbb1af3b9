"""wrk (a C HTTP load generator, Debian package `wrk`) as the benchmarks drive it, and the server CPU
it costs."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from bench.common import children

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}
_PERCENTILE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: requests per second, latency p50/p99 in ms, answers that were not 2xx/3xx, and the
    server's CPU time (user + system) per request in ms when a pid was given."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    cpu_ms_per_request: float | None
    socket_errors: str = ""  # wrk's "connect 0, read 0, write 0, timeout 3" when it saw any
    output: str = ""  # what wrk printed (a script's done() may add lines)


def threads_for(connections: int) -> int:
    """wrk threads for a connection count: two (the machine's cores), one for a single connection."""
    return max(1, min(2, connections))


def available() -> bool:
    return shutil.which("wrk") is not None


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` (its threads included) and of its descendants (workers), seconds, from
    /proc/<pid>/stat; 0 for a process that is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(kid) for kid in children(pid))


async def settle(pid: int, *, idle_ms_per_s: float = 40.0, timeout_s: float = 15.0) -> None:
    """Wait until the process tree `pid` burns less than `idle_ms_per_s` CPU per second over a quarter
    second (its relay and consumers have caught up), or `timeout_s` passed."""
    loop = asyncio.get_running_loop()
    deadline, period_s = loop.time() + timeout_s, 0.25
    before = cpu_seconds(pid)
    while loop.time() < deadline:
        await asyncio.sleep(period_s)
        now = cpu_seconds(pid)
        if (now - before) * 1000 / period_s < idle_ms_per_s:
            return
        before = now


async def run(
    url: str,
    *,
    connections: int,
    duration_s: float,
    script: Path | None = None,
    headers: dict[str, str] | None = None,
    server_pid: int | None = None,
    settle_after: bool = False,
) -> WrkResult:
    """`wrk -t T -c connections -d duration_s --latency [-s script] [-H ...] url`, parsed (wrk takes whole
    seconds). With `settle_after`, the server's CPU is read once its background work caught up (settle)."""
    threads = threads_for(connections)
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration_s:g}s", "--latency"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    if script is not None:
        command += ["-s", str(script)]
    before = cpu_seconds(server_pid) if server_pid is not None else None
    process = await asyncio.create_subprocess_exec(
        *command, url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output = (await process.communicate())[0].decode(errors="replace")
    if settle_after and server_pid is not None:
        await settle(server_pid)
    cpu = cpu_seconds(server_pid) - before if server_pid is not None and before is not None else None
    if process.returncode != 0 or "Requests/sec" not in output:
        raise RuntimeError(f"wrk failed ({process.returncode}): {output[-2000:]}")
    percentiles = {q: float(v) * _UNITS[u] for q, v, u in _PERCENTILE.findall(output)}
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", output)
    errors = re.search(r"Socket errors:\s*(.*)", output)
    return WrkResult(
        rps=float(re.search(r"Requests/sec:\s*([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        p50_ms=percentiles["50"],
        p99_ms=percentiles["99"],
        requests=requests,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        cpu_ms_per_request=cpu * 1000 / requests if cpu is not None and requests else None,
        socket_errors=errors.group(1).strip() if errors else "",
        output=output,
    )


def post_json_script(directory: Path, body: str) -> Path:
    """A wrk Lua script that POSTs `body` (JSON) on every request."""
    path = directory / "post.lua"
    escaped = body.replace("\\", "\\\\").replace('"', '\\"')
    path.write_text(
        f'wrk.method = "POST"\nwrk.body = "{escaped}"\nwrk.headers["Content-Type"] = "application/json"\n'
    )
    return path

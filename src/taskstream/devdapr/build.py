"""daprd and the Dapr scheduler, built once from the `github.com/dapr/dapr` Go module into a cache directory.

The module comes from the Go module proxy at `DAPR_VERSION`. Only the components taskstream uses are compiled
in (`COMPONENTS`: Kafka pub/sub, the env/file/Kubernetes secret stores, mDNS and Kubernetes name resolution):
the full component set does not build on current Go (two of its indirect dependencies carry assembly that
Go 1.26 rejects) and takes three times as long. The binaries land in <cache>/dapr-<version>/bin, where the
cache is $TASKSTREAM_CACHE_DIR, else $XDG_CACHE_HOME/taskstream, else ~/.cache/taskstream; a lock makes
concurrent first builds wait for one. Only the standard library is used.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from taskstream.devkafka.files import locked
from taskstream.devkafka.jars import cache_dir

MODULE = "github.com/dapr/dapr"
DAPR_VERSION = "v1.18.2"  # the newest release the module proxy serves here (v1.19.0 is refused)
# The registrations kept from cmd/daprd/components (each file registers one component type).
COMPONENTS = (
    "pubsub_kafka.go",
    "secretstores_local_env.go",
    "secretstores_local_file.go",
    "secretstores_kubernetes.go",
    "nameresolution_mdns.go",
    "nameresolution_kubernetes.go",
)


class DaprUnavailable(RuntimeError):
    """daprd or the scheduler cannot be built, found or started; the message says why and what to do."""


@dataclass(frozen=True)
class DaprBinaries:
    """Paths of the two executables of one build."""

    daprd: Path
    scheduler: Path


def build_dir() -> Path:
    """Where this version's build lives: <cache>/dapr-<version> (bin/ inside it once complete)."""
    return cache_dir() / f"dapr-{DAPR_VERSION.lstrip('v')}"


def installed() -> DaprBinaries | None:
    """The binaries of a completed build, or None when `build()` has not run on this machine."""
    bin_dir = build_dir() / "bin"
    if not (bin_dir / ".complete").exists():
        return None
    return DaprBinaries(bin_dir / "daprd", bin_dir / "scheduler")


def binaries() -> DaprBinaries:
    """The built binaries; raises DaprUnavailable naming the command that builds them."""
    found = installed()
    if found is None:
        raise DaprUnavailable(
            f"daprd {DAPR_VERSION} is not built on this machine: run `deploy/local/dapr build` (needs Go)"
        )
    return found


def _go(*args: str, cwd: Path | None = None, log: Path) -> str:
    go = shutil.which("go")
    if go is None:
        raise DaprUnavailable("Go is needed to build daprd: install it, or put `go` on PATH")
    env = dict(os.environ, CGO_ENABLED="0")
    with log.open("a") as out:
        out.write(f"$ go {' '.join(args)}\n")
        out.flush()
        result = subprocess.run(
            [go, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=out, text=True, check=False
        )
    if result.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-20:]
        raise DaprUnavailable(f"`go {' '.join(args[:2])}` failed (log: {log}):\n" + "\n".join(tail))
    return result.stdout


def _copy_source(log: Path, into: Path) -> None:
    """The module's source from the proxy (go mod download), copied writable, with only COMPONENTS kept."""
    info = json.loads(_go("mod", "download", "-json", f"{MODULE}@{DAPR_VERSION}", log=log))
    if info.get("Error") or not info.get("Dir"):
        raise DaprUnavailable(f"the module proxy did not serve {MODULE}@{DAPR_VERSION}: {info.get('Error')}")
    shutil.copytree(info["Dir"], into, symlinks=True)
    for path in into.rglob("*"):
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    components = into / "cmd" / "daprd" / "components"
    for source in components.glob("*.go"):
        if source.name not in COMPONENTS:
            source.unlink()


def build(*, quiet: bool = False) -> DaprBinaries:
    """Build daprd and the scheduler unless a completed build exists; returns their paths.

    Raises DaprUnavailable when Go is missing, the proxy refuses the module, or compilation fails (the build
    log in <cache>/dapr-<version>/build.log keeps the whole output).
    """
    found = installed()
    if found is not None:
        return found
    root = build_dir()
    root.mkdir(parents=True, exist_ok=True)
    with locked(root / ".lock"):
        found = installed()
        if found is not None:
            return found
        log = root / "build.log"
        log.write_text("")
        staging = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
        try:
            source = staging / "src"
            if not quiet:
                print(f"fetching {MODULE}@{DAPR_VERSION} from the Go module proxy", file=sys.stderr)
            _copy_source(log, source)
            ldflags = f"-s -w -X {MODULE}/pkg/buildinfo.version={DAPR_VERSION.lstrip('v')}"
            for name, tags in (("daprd", ["-tags", "stablecomponents"]), ("scheduler", [])):
                if not quiet:
                    print(f"building {name} (a few minutes the first time)", file=sys.stderr)
                target = staging / "bin" / name
                _go("build", "-trimpath", *tags, "-ldflags", ldflags, "-o", str(target), f"./cmd/{name}",
                    cwd=source, log=log)  # fmt: skip
            (staging / "bin" / ".complete").write_text(DAPR_VERSION + "\n")
            shutil.rmtree(root / "bin", ignore_errors=True)
            (staging / "bin").rename(root / "bin")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return binaries()

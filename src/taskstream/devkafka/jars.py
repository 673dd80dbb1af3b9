"""The Apache Kafka jars from Maven Central, resolved once into a cache directory, and the Java to run them.

The pinned Maven project next to this file (`pom.xml`) names them; they land in $TASKSTREAM_CACHE_DIR, else
$XDG_CACHE_HOME/taskstream, else ~/.cache/taskstream. Only the standard library is used.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from taskstream.devkafka.files import locked

POM = Path(__file__).resolve().parent / "pom.xml"


class BrokerError(RuntimeError):
    """The broker cannot be fetched, started, stopped or reached; the message says why and what to do."""


def kafka_version() -> str:
    """The Apache Kafka version the Maven project pins (its `kafka.version` property)."""
    namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
    version = ElementTree.parse(POM).find("m:properties/m:kafka.version", namespace)
    if version is None or not version.text:
        raise BrokerError(f"{POM} has no kafka.version property")
    return version.text.strip()


def cache_dir() -> Path:
    """Where resolved jars are kept (outside the repository; shared by every checkout of this user)."""
    if os.environ.get("TASKSTREAM_CACHE_DIR"):
        return Path(os.environ["TASKSTREAM_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "taskstream"


def ensure_jars(*, quiet: bool = True) -> Path:
    """The directory of the broker's jars, resolving them with Maven on first use.

    Reused when present (keyed by the pom's hash); a lock makes concurrent first uses wait for one download.
    Raises BrokerError when `mvn` is missing or the resolution fails.
    """
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:12]
    root = cache_dir()
    lib = root / f"kafka-{kafka_version()}-{digest}"
    if (lib / ".complete").exists():
        return lib
    root.mkdir(parents=True, exist_ok=True)
    with locked(root / ".kafka.lock"):
        if (lib / ".complete").exists():
            return lib
        mvn = shutil.which("mvn")
        if mvn is None:
            raise BrokerError("Maven (mvn) is needed once to fetch Apache Kafka: apt-get install maven")
        staging = Path(tempfile.mkdtemp(prefix=".kafka-", dir=root))
        command = [
            mvn,
            "-B",
            *(["-q"] if quiet else []),
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ]
        print(f"fetching Apache Kafka {kafka_version()} from Maven Central into {lib}", file=sys.stderr)
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
            shutil.rmtree(staging, ignore_errors=True)
            tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
            raise BrokerError("mvn could not resolve Apache Kafka:\n" + "\n".join(tail))
        (staging / ".complete").write_text(kafka_version() + "\n")
        shutil.rmtree(lib, ignore_errors=True)
        staging.rename(lib)
    return lib


def java_binary() -> str:
    """$JAVA_HOME/bin/java, else `java` on PATH; raises BrokerError when neither exists (Java 17+ needed)."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise BrokerError("Apache Kafka needs Java 17 or newer: apt-get install openjdk-17-jre-headless")
    return found

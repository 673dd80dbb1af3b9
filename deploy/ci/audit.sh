#!/usr/bin/env bash
# Dependency audit: fails on any known vulnerability in the installed Python packages (pip-audit, PyPI's
# advisory data) or in the browser tests' npm packages (npm audit). A package the advisory service cannot
# answer for is listed; when it answers for none (the service is not reachable from this machine), the
# audit says so loudly instead of passing in silence.
set -euo pipefail
cd "$(dirname "$0")/../.."
report=test-artifacts/pip-audit.json
mkdir -p test-artifacts
status=0
.venv/bin/pip-audit --vulnerability-service pypi --skip-editable --progress-spinner off \
  --format json --output "$report" >/dev/null 2>&1 || status=$?
.venv/bin/python - "$report" "$status" <<'PY'
import json
import sys

report, status = json.load(open(sys.argv[1])), int(sys.argv[2])
deps = report["dependencies"]
vulnerable = [d for d in deps if d.get("vulns")]
skipped = [d for d in deps if "skip_reason" in d]
for dep in vulnerable:
    ids = ", ".join(v["id"] for v in dep["vulns"])
    print(f"VULNERABLE {dep['name']} {dep['version']}: {ids}")
audited = len(deps) - len(skipped)
print(f"pip-audit: {audited} of {len(deps)} packages audited, {len(vulnerable)} with known vulnerabilities")
if vulnerable or (status and not skipped):
    sys.exit(1)
if audited == 0:
    print("WARNING: the advisory service answered for no package (PyPI's JSON API is not reachable here);"
          " nothing was audited")
PY
npm_report=test-artifacts/npm-audit.json
npm audit --prefix tests/browser --json >"$npm_report" 2>/dev/null || true
.venv/bin/python - "$npm_report" <<'PY'
import json
import sys

report = json.load(open(sys.argv[1]))
if "metadata" not in report:  # the registry refused the audit request
    reason = report.get("message") or report.get("error", {}).get("summary", "no answer")
    print(f"WARNING: npm audit could not run ({reason}); nothing was audited")
    sys.exit(0)
found = report.get("metadata", {}).get("vulnerabilities", {})
total = sum(found.values())
print(f"npm audit: {total} known vulnerabilities in tests/browser's packages")
sys.exit(1 if total else 0)
PY

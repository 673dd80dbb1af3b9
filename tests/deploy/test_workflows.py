"""Offline checks of the GitHub workflows in .github/workflows (issue 20).

zizmor audits them with every audit of its "auditor" persona, and the release rules are read from the YAML:
actions pinned to commits, no persisted checkout credentials, one release at a time, a pull secret for the
GHCR image, the image deployed by its digest and a migration wait that stops when the Job fails.

Each rule is a function returning the problems it finds in a workflow's text, so the same functions can be
pointed at an older version of a file (`git show HEAD~1:.github/workflows/release.yml`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")

pytestmark = pytest.mark.deploy

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
WORKFLOW_FILES = ["ci.yml", "release.yml"]
SERVICES = ["api", "relay", "recurring", "notifications", "audit", "realtime"]
ZIZMOR_DEFAULT = Path.home() / ".cache" / "taskstream" / "scanners" / "bin" / "zizmor"

# The zizmor findings kept on purpose, (workflow, audit) -> why. Each one is silenced in the workflow by an
# inline `# zizmor: ignore[<audit>]` comment under a comment giving the reason; nothing else may be silenced.
ALLOWED = {
    ("ci.yml", "unpinned-images"): (
        "the CI container is pinned to its exact Python patch release; Docker Hub rebuilds that tag for "
        "Debian security fixes and a digest cannot be checked without access to Docker Hub"
    ),
}

USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>[^\s#]+)\s*(?:#\s*(?P<comment>.*))?$")
SHA_PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"^v\d+\.\d+\.\d+\b")
INLINE_IGNORE = re.compile(r"#\s*zizmor:\s*ignore\[(?P<rules>[^\]]+)\]")


# ---------------------------------------------------------------- helpers


def load(text: str) -> dict[str, Any]:
    """A workflow as GitHub reads it (PyYAML reads the key `on:` as True)."""
    raw: dict[Any, Any] = yaml.safe_load(text)
    if True in raw:
        raw["on"] = raw.pop(True)
    return {str(k): v for k, v in raw.items()}


def workflow_text(name: str) -> str:
    return (WORKFLOWS / name).read_text()


def uses_values(node: Any) -> list[str]:
    """Every `uses:` value anywhere in a parsed workflow."""
    if isinstance(node, dict):
        found = [node["uses"]] if isinstance(node.get("uses"), str) else []
        return found + [u for v in node.values() for u in uses_values(v)]
    if isinstance(node, list):
        return [u for v in node for u in uses_values(v)]
    return []


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def step_index(job: dict[str, Any], needle: str) -> int:
    """Index of the first step whose script contains `needle` (-1 when none does)."""
    return next((i for i, s in enumerate(steps(job)) if needle in s.get("run", "")), -1)


def scripts(job: dict[str, Any]) -> str:
    return "\n".join(s.get("run", "") for s in steps(job))


def deploy_job(doc: dict[str, Any]) -> dict[str, Any]:
    jobs: dict[str, Any] = doc["jobs"]
    return jobs["deploy"]


def is_false(value: Any) -> bool:
    return value is False or value == "false"


# ---------------------------------------------------------------- the rules


def unpinned_uses(text: str) -> list[str]:
    """`uses:` lines that do not name a full commit SHA followed by a `# vX.Y.Z` comment."""
    problems, seen = [], 0
    for number, line in enumerate(text.splitlines(), 1):
        match = USES.match(line)
        if not match:
            continue
        seen += 1
        ref, comment = match["ref"], (match["comment"] or "").strip()
        if ref.startswith("./"):
            continue  # an action of this repository: it is pinned by the commit that runs it
        if not SHA_PINNED.match(ref) or not VERSION_COMMENT.match(comment):
            problems.append(f"line {number}: {line.strip()}")
    parsed = len(uses_values(load(text)))
    if seen != parsed:
        problems.append(f"{parsed} `uses:` in the YAML but {seen} one-line `uses:` entries")
    return problems


def checkouts_keeping_credentials(text: str) -> list[str]:
    """actions/checkout steps that leave the token in .git/config (persist-credentials is true by default)."""
    problems = []
    for job_name, job in load(text)["jobs"].items():
        for number, step in enumerate(steps(job)):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                if not is_false((step.get("with") or {}).get("persist-credentials")):
                    problems.append(f"{job_name}, step {number}: persist-credentials is not false")
    return problems


def concurrency_problems(text: str) -> list[str]:
    """The deploy (and so the migration) must run once at a time and never be cancelled half-way."""
    doc = load(text)
    blocks = [doc.get("concurrency"), deploy_job(doc).get("concurrency")]
    for block in blocks:
        if isinstance(block, dict) and block.get("group") and is_false(block.get("cancel-in-progress")):
            return []
    return ["no concurrency group with cancel-in-progress: false on the workflow or the deploy job"]


def pull_secret_problems(text: str) -> list[str]:
    """The deploy job creates a ghcr.io pull secret and attaches it to the ServiceAccount before migrating."""
    job = deploy_job(load(text))
    script = scripts(job)
    problems = []
    create = step_index(job, "create secret docker-registry ghcr-pull")
    migrate = step_index(job, "component=migrate")
    migrate_script = steps(job)[migrate].get("run", "") if migrate >= 0 else ""
    if create < 0 or "ghcr.io" not in script:
        problems.append("no `kubectl create secret docker-registry ghcr-pull` for ghcr.io")
    if "| kubectl apply -f -" not in script:
        problems.append(
            "the pull secret is not created-or-refreshed (`--dry-run=client -o yaml | kubectl apply`)"
        )
    config_at = migrate_script.find("component=config")
    patch_at = migrate_script.find("patch serviceaccount taskstream")
    job_at = migrate_script.find("component=migrate")
    if not 0 <= config_at < patch_at < job_at:
        problems.append(
            "the ServiceAccount must be applied, then given the pull secret, before the Job exists"
        )
    if '"path":"/imagePullSecrets/-"' not in migrate_script or "--type=json" not in migrate_script:
        problems.append("the pull secret must be added beside the overlay's own, never replace them")
    if create < 0 or not create < migrate:
        problems.append("the pull secret must exist before the migration step")
    token_step = steps(job)[create] if create >= 0 else {}
    if "secrets.GHCR_PULL_TOKEN" not in str(token_step.get("env", {})):
        problems.append("the pull token does not come from the repository secret GHCR_PULL_TOKEN")
    if '[ -z "$GHCR_PULL_TOKEN" ]' not in script or "public" not in token_step.get("run", ""):
        problems.append("no documented path for a public package (secret unset)")
    return problems


def digest_problems(text: str) -> list[str]:
    """The build job exports the pushed digest and the deploy job pins every taskstream image to it."""
    doc = load(text)
    problems = []
    build = next(
        (
            (name, s)
            for name, job in doc["jobs"].items()
            for s in steps(job)
            if str(s.get("uses", "")).startswith("docker/build-push-action@")
        ),
        None,
    )
    if build is None:
        return ["no docker/build-push-action step"]
    job_name, step = build
    outputs = doc["jobs"][job_name].get("outputs", {})
    if not step.get("id") or f"steps.{step['id']}.outputs.digest" not in str(outputs.get("digest", "")):
        problems.append(f"job {job_name} does not expose the build step's digest as outputs.digest")
    if "linux/amd64" not in str(step.get("with", {}).get("platforms")) or "linux/arm64" not in str(
        step.get("with", {}).get("platforms")
    ):
        problems.append("the image is not built for linux/amd64 and linux/arm64")
    if not str(step.get("with", {}).get("tags", "")).strip():
        problems.append("the readable tag is no longer pushed")
    job = deploy_job(doc)
    if f"needs.{job_name}.outputs.digest" not in str(job.get("env", {})) + scripts(job):
        problems.append("the deploy job does not use the pushed digest")
    script = scripts(job)
    if 'digest: "${DIGEST}"' not in script:
        problems.append("the release kustomization has no `digest:` for the image")
    if "newTag:" in script:
        problems.append("the release kustomization still deploys by tag (newTag)")
    return problems


def migration_wait_problems(text: str) -> list[str]:
    """The migration wait stops when the Job fails, shows its logs and fails the step; rollout comes after."""
    job = deploy_job(load(text))
    migrate = step_index(job, "taskstream-migrate")
    if migrate < 0:
        return ["no step runs the migration Job taskstream-migrate"]
    script = steps(job)[migrate]["run"]
    problems = []
    if not re.search(r"condition=failed|\bFailed\b", script):
        problems.append("the wait does not react to the Job's Failed condition")
    if "kubectl -n taskstream logs" not in script:
        problems.append("the Job's pod logs are not printed when it fails")
    if "exit 1" not in script:
        problems.append("a failed migration does not fail the step")
    rollout = step_index(job, "rollout status")
    if not migrate < rollout:
        problems.append("the services are not rolled out after the migration")
    rollout_script = steps(job)[rollout]["run"] if rollout >= 0 else ""
    for svc in SERVICES:
        if svc not in rollout_script:
            problems.append(f"no rollout status for taskstream-{svc}")
    return problems


def permission_problems(text: str) -> list[str]:
    """Top-level permissions grant nothing beyond reading; each job states its own; only the image job
    writes packages."""
    doc = load(text)
    problems = []
    if doc.get("permissions") not in ({}, {"contents": "read"}):
        problems.append(f"top-level permissions {doc.get('permissions')!r}")
    for name, job in doc["jobs"].items():
        granted = job.get("permissions", doc.get("permissions"))
        if not isinstance(granted, dict):
            problems.append(f"job {name}: permissions {granted!r}")
            continue
        for scope, level in granted.items():
            if level == "write" and (scope, name) != ("packages", "image"):
                problems.append(f"job {name}: {scope}: write")
    return problems


def inline_ignores(text: str) -> list[tuple[int, str]]:
    """(line, audit) of each inline `# zizmor: ignore[...]` comment."""
    return [
        (number, rule.strip())
        for number, line in enumerate(text.splitlines(), 1)
        for match in INLINE_IGNORE.finditer(line)
        for rule in match["rules"].split(",")
    ]


# ---------------------------------------------------------------- zizmor


def zizmor() -> str:
    """Path of zizmor: $ZIZMOR, then PATH, then the pinned install; skips locally, fails under CI."""
    for candidate in (os.environ.get("ZIZMOR"), "zizmor"):
        found = shutil.which(candidate) if candidate else None
        if found:
            return found
    if ZIZMOR_DEFAULT.is_file() and os.access(ZIZMOR_DEFAULT, os.X_OK):
        return str(ZIZMOR_DEFAULT)
    reason = "zizmor not found: run deploy/ci/install-tools.sh (it installs the pinned zizmor)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def zizmor_findings(workflows: Path, *, honour_ignores: bool) -> tuple[int, list[dict[str, Any]], str]:
    """(exit code, findings, stderr) of zizmor over a directory of workflows, offline, every audit on.

    No configuration file is read (`--no-config`): a config could disable an audit outright, and the one
    allow-list is ALLOWED here plus the inline comments it requires.
    """
    command = [zizmor(), "--offline", "--no-config", "--persona=auditor", "--format=json"]
    if not honour_ignores:
        command.append("--no-ignores")
    result = subprocess.run(
        [*command, str(workflows)], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    # 0: no findings; 10 and up: findings (10 + the highest severity); anything else: zizmor did not audit.
    if result.returncode != 0 and result.returncode < 10:
        pytest.fail(f"zizmor failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
    try:
        findings = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"zizmor printed no JSON (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.returncode, findings, result.stderr


def finding_key(finding: dict[str, Any]) -> tuple[str, str, int]:
    """(workflow file name, audit, 1-based line) of a finding's primary location."""
    locations = finding.get("locations", [])
    primary = next((loc for loc in locations if loc["symbolic"].get("kind") == "Primary"), locations[0])
    path = primary["symbolic"]["key"]["Local"]["verbatim_path"]
    row = primary["concrete"]["location"]["start_point"]["row"] + 1
    return Path(path).name, str(finding["ident"]), row


def describe(findings: list[dict[str, Any]]) -> str:
    """One `file:line: audit (description)` line per finding."""
    lines = []
    for finding in findings:
        name, audit, row = finding_key(finding)
        lines.append(f"{name}:{row}: {audit} ({finding.get('desc', '')})")
    return "\n".join(lines)


# ---------------------------------------------------------------- tests


def test_zizmor_finds_nothing_outside_the_allow_list() -> None:
    code, findings, stderr = zizmor_findings(WORKFLOWS, honour_ignores=False)
    outside = [f for f in findings if finding_key(f)[:2] not in ALLOWED]
    assert outside == [], (
        f"zizmor (exit {code}) found, outside the allow-list:\n{describe(outside)}\n{stderr}"
    )
    unsilenced = [f for f in findings if not f.get("ignored")]
    assert unsilenced == [], f"allowed but not silenced by an inline comment:\n{describe(unsilenced)}"
    code, findings, stderr = zizmor_findings(WORKFLOWS, honour_ignores=True)
    assert (code, findings) == (0, []), f"zizmor exit {code}:\n{describe(findings)}\n{stderr}"


def test_zizmor_still_reports_what_the_workflows_fixed(tmp_path: Path) -> None:
    """Negative control: zizmor, run the way the test above runs it, flags tag pins and kept credentials."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "old.yml").write_text(
        "name: old\non: push\npermissions: {}\njobs:\n  a:\n    name: a\n    runs-on: ubuntu-24.04\n"
        "    steps:\n      - uses: actions/checkout@v4\n"
    )
    _, findings, _ = zizmor_findings(workflows, honour_ignores=True)
    assert {"unpinned-uses", "artipacked"} <= {finding_key(f)[1] for f in findings}


def test_the_allow_list_is_exactly_the_inline_ignores_each_with_a_reason() -> None:
    found = set()
    for name in WORKFLOW_FILES:
        lines = workflow_text(name).splitlines()
        for number, rule in inline_ignores(workflow_text(name)):
            found.add((name, rule))
            assert lines[number - 2].lstrip().startswith("#"), (
                f"{name}:{number}: ignore without a reason above"
            )
    assert found == set(ALLOWED)
    config = ROOT / ".github" / "zizmor.yml"
    if config.exists():  # any other allow-list would bypass ALLOWED
        rules = (yaml.safe_load(config.read_text()) or {}).get("rules", {})
        assert [r for r, c in rules.items() if {"ignore", "disable"} & set(c or {})] == []


@pytest.mark.parametrize("workflow", WORKFLOW_FILES)
def test_every_action_is_pinned_to_a_commit_with_its_version(workflow: str) -> None:
    assert unpinned_uses(workflow_text(workflow)) == []


@pytest.mark.parametrize("workflow", WORKFLOW_FILES)
def test_checkout_never_persists_credentials(workflow: str) -> None:
    assert checkouts_keeping_credentials(workflow_text(workflow)) == []


@pytest.mark.parametrize("workflow", WORKFLOW_FILES)
def test_permissions_are_minimal_and_per_job(workflow: str) -> None:
    assert permission_problems(workflow_text(workflow)) == []


def test_release_runs_one_deploy_at_a_time_and_never_cancels_one() -> None:
    assert concurrency_problems(workflow_text("release.yml")) == []


def test_release_creates_a_ghcr_pull_secret_for_the_service_account() -> None:
    assert pull_secret_problems(workflow_text("release.yml")) == []


def test_release_deploys_the_pushed_digest() -> None:
    assert digest_problems(workflow_text("release.yml")) == []


def test_release_migration_wait_stops_when_the_job_fails() -> None:
    assert migration_wait_problems(workflow_text("release.yml")) == []


def test_release_keeps_the_production_environment() -> None:
    job = deploy_job(load(workflow_text("release.yml")))
    assert job["environment"] == "production"
    assert job["needs"] == "image"


def test_ci_lints_and_tests_in_the_debian_container() -> None:
    job = load(workflow_text("ci.yml"))["jobs"]["test"]
    assert job["container"] == "python:3.11.13-bookworm"
    runs = [s.get("run") for s in steps(job)]
    assert "make lint" in runs and "bash .ci/run" in runs


def test_rules_reject_the_mistakes_of_issue_20() -> None:
    """Negative controls on a small release workflow shaped like the one issue 20 reported."""
    old = """
name: release
on: {push: {tags: ["v*"]}}
permissions: {contents: write}
jobs:
  image:
    runs-on: ubuntu-24.04
    outputs: {tag: "${{ steps.ref.outputs.tag }}"}
    steps:
      - uses: actions/checkout@v4
      - id: build
        uses: docker/build-push-action@v6
        with: {platforms: linux/amd64, tags: x}
  deploy:
    needs: image
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683
      - run: |
          cat > k.yaml <<YAML
          images: [{name: a, newName: b, newTag: "${TAG}"}]
          YAML
      - run: |
          kubectl apply -k r -l 'app.kubernetes.io/component in (config,migrate)'
          kubectl -n taskstream wait --for=condition=complete job/taskstream-migrate --timeout=10m
      - run: kubectl -n taskstream rollout status deployment/taskstream-api
"""
    assert len(unpinned_uses(old)) == 3
    assert len(checkouts_keeping_credentials(old)) == 2
    assert concurrency_problems(old)
    assert len(pull_secret_problems(old)) >= 5
    assert len(digest_problems(old)) >= 4
    assert len(migration_wait_problems(old)) >= 3
    assert permission_problems(old)

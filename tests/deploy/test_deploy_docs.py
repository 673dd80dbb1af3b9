"""Text checks of docs/deploy.md: the commands a platform engineer copies must work on their clusters.

Pure text, no cluster and no tools: each check takes the page's text and returns what is wrong with it, so the
same functions can be run against an older version of the page.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.deploy

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "deploy.md"
CLOUD_SECTIONS = {"aks": "## 3.", "gke": "## 4.", "oke": "## 5."}
FIRST_INSTALL_SECTIONS = {"minikube": "## 2.", **CLOUD_SECTIONS}
SHELL_BLOCK = re.compile(r"^[ \t]*```(?:bash|sh|shell)\n(.*?)^[ \t]*```", re.MULTILINE | re.DOTALL)


# ---------------------------------------------------------------- helpers


def section(text: str, heading: str) -> str:
    """The text of the `## ` section whose heading starts with `heading`, up to the next `## ` heading."""
    start = text.index("\n" + heading) + 1
    end = text.find("\n## ", start + len(heading))
    return text[start:] if end == -1 else text[start:end]


def shell_commands(text: str) -> list[str]:
    """The commands of every shell code block, continuation lines joined, comments dropped."""
    commands = []
    for block in SHELL_BLOCK.findall(text):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def first_index(commands: list[str], pattern: str) -> int | None:
    """Position of the first command matching the regular expression, or None."""
    return next((i for i, c in enumerate(commands) if re.search(pattern, c)), None)


# ---------------------------------------------------------------- checks


def image_builds_not_for_amd64(text: str) -> list[str]:
    """Docker builds that would produce an image for the builder's own CPU instead of linux/amd64."""
    builds = [c for c in shell_commands(text) if re.search(r"\bdocker (buildx )?build\b", c)]
    return [c for c in builds if "--platform linux/amd64" not in c]


def acr_builds_not_for_amd64(text: str) -> list[str]:
    """`az acr build` commands without `--platform linux/amd64`; at least one must be there (AKS)."""
    builds = [c for c in shell_commands(text) if "az acr build" in c]
    if not builds:
        return ["no `az acr build` command"]
    return [c for c in builds if "--platform linux/amd64" not in c]


def cloud_sql_private_ip_problems(text: str) -> list[str]:
    """The private-IP Cloud SQL instance must be created after private services access is set up."""
    commands = shell_commands(section(text, CLOUD_SECTIONS["gke"]))
    create = first_index(commands, r"gcloud sql instances create .*--no-assign-ip")
    if create is None:
        return ["no `gcloud sql instances create ... --no-assign-ip`"]
    problems = []
    steps = (
        r"gcloud services enable .*servicenetworking\.googleapis\.com",
        r"gcloud services vpc-peerings connect",
    )
    for step in steps:
        done = first_index(commands, step)
        if done is None or done > create:
            problems.append(f"`{step}` does not come before the instance is created")
    return problems


def aks_database_unreachable(text: str) -> list[str]:
    """Each AKS flexible server needs private access (--vnet/--subnet) or a firewall rule after it."""
    commands = shell_commands(section(text, CLOUD_SECTIONS["aks"]))
    problems = []
    for i, command in enumerate(commands):
        if not command.startswith("az postgres flexible-server create"):
            continue
        private = "--vnet " in command and "--subnet " in command
        rule = first_index(commands[i:], r"az postgres flexible-server firewall-rule create")
        rule_follows = rule is not None
        if not (private or rule_follows):
            problems.append(command)
    if not any(c.startswith("az postgres flexible-server create") for c in commands):
        problems.append("no `az postgres flexible-server create`")
    return problems


def install_order_problems(text: str, overlay: str) -> list[str]:
    """The ConfigMap and the migration Job must be applied (and awaited) before the full overlay."""
    commands = shell_commands(section(text, FIRST_INSTALL_SECTIONS[overlay]))
    target = f"kubectl apply -k deploy/k8s/overlays/{overlay}"
    partial = first_index(commands, re.escape(target) + r" -l '[^']*\(config,migrate\)'")
    wait = first_index(commands, r"kubectl -n taskstream wait .*job/taskstream-migrate")
    full = first_index(commands, re.escape(target) + r"$")
    if partial is None or wait is None or full is None:
        return [f"{overlay}: missing the partial apply, the Job wait or the full apply"]
    if not partial < wait < full:
        return [f"{overlay}: apply (config,migrate), wait for the Job, then apply the rest"]
    return []


def release_pull_secret_missing(text: str) -> list[str]:
    """The release section must name the image pull secret the workflow creates."""
    if "ghcr-pull" in section(text, "## 9."):
        return []
    return ["section 9 does not name the pull secret ghcr-pull"]


# ---------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text()


def test_every_docker_build_targets_linux_amd64(doc: str) -> None:
    assert image_builds_not_for_amd64(doc) == []


def test_acr_build_targets_linux_amd64(doc: str) -> None:
    assert acr_builds_not_for_amd64(doc) == []


def test_cloud_sql_private_ip_comes_after_private_services_access(doc: str) -> None:
    assert cloud_sql_private_ip_problems(doc) == []


def test_aks_database_is_reachable_from_the_cluster(doc: str) -> None:
    assert aks_database_unreachable(doc) == []


@pytest.mark.parametrize("overlay", sorted(FIRST_INSTALL_SECTIONS))
def test_first_install_migrates_before_the_services(doc: str, overlay: str) -> None:
    assert install_order_problems(doc, overlay) == []


def test_release_section_names_the_pull_secret(doc: str) -> None:
    assert release_pull_secret_missing(doc) == []

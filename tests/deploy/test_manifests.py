"""Offline checks of every deployment file: kustomize overlays, Dapr/Strimzi resources, compose, Dockerfile.

No cluster and no Docker engine: overlays are rendered with `kubectl kustomize`, Kubernetes kinds are
validated with kubernetes-validate (strict), custom resources with the JSON Schemas in deploy/schemas,
compose.yaml with the Compose Specification schema vendored in check-jsonschema.
"""

from __future__ import annotations

import copy
import functools
import importlib.resources
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")
jsonschema = pytest.importorskip("jsonschema")
kubernetes_validate = pytest.importorskip("kubernetes_validate")

pytestmark = pytest.mark.deploy

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SCHEMAS = DEPLOY / "schemas"
OVERLAYS = ["minikube", "aks", "gke", "oke"]
K8S_VERSION = os.environ.get("TASKSTREAM_K8S_VERSION", "1.33")
SERVICES = ["api", "relay", "recurring", "notifications", "audit", "realtime"]
AUTOSCALED = {"taskstream-api", "taskstream-realtime"}
CRD_SCHEMAS = {
    ("dapr.io/v1alpha1", "Component"): "dapr-component.json",
    ("dapr.io/v2alpha1", "Subscription"): "dapr-subscription-v2alpha1.json",
    ("dapr.io/v1alpha1", "Resiliency"): "dapr-resiliency.json",
    ("dapr.io/v1alpha1", "Configuration"): "dapr-configuration.json",
    ("kafka.strimzi.io/v1beta2", "Kafka"): "strimzi-kafka.json",
    ("kafka.strimzi.io/v1beta2", "KafkaNodePool"): "strimzi-kafkanodepool.json",
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): "strimzi-kafkatopic.json",
}
# (topic, pubsub component, route, dead-letter topic, subscribed app ids): the Dapr wiring's contract.
SUBSCRIPTIONS = {
    (
        "task-events",
        "pubsub",
        "/dapr/events/task-events",
        "task-events.dlq",
        ("taskstream-audit", "taskstream-notifications", "taskstream-recurring"),
    ),
    ("reminders", "pubsub", "/dapr/events/reminders", "reminders.dlq", ("taskstream-notifications",)),
    (
        "task-updates",
        "pubsub-broadcast",
        "/dapr/events/task-updates",
        "task-updates.dlq",
        ("taskstream-api", "taskstream-realtime"),
    ),
}
COMPILERS = re.compile(r"\b(gcc|g\+\+|clang|build-essential|cc1|make|cmake|rustc|cargo)\b")


# ---------------------------------------------------------------- helpers


def load_docs(text: str) -> list[dict[str, Any]]:
    """Parse a multi-document YAML string into its non-empty documents."""
    return [d for d in yaml.safe_load_all(text) if d]


def kubectl() -> str:
    """Path of kubectl; skips locally and fails under CI when it is missing."""
    path = shutil.which("kubectl")
    if path is None:
        reason = "kubectl not found: run deploy/ci/install-tools.sh to render the kustomize overlays"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def kustomize(directory: Path) -> tuple[dict[str, Any], ...]:
    """Objects of `kubectl kustomize <directory>`."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"kustomize failed for {directory}:\n{result.stderr}"
    return tuple(load_docs(result.stdout))


@functools.cache
def render(overlay: str) -> tuple[dict[str, Any], ...]:
    """Objects of `kubectl kustomize deploy/k8s/overlays/<overlay>`."""
    return kustomize(DEPLOY / "k8s" / "overlays" / overlay)


@functools.cache
def crd_validator(filename: str) -> Any:
    """A checked Draft 2020-12 validator for one schema in deploy/schemas."""
    schema = json.loads((SCHEMAS / filename).read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def schema_errors(obj: dict[str, Any]) -> list[str]:
    """Validation errors of one custom resource against deploy/schemas ('no schema' is an error too)."""
    key = (obj.get("apiVersion"), obj.get("kind"))
    if key not in CRD_SCHEMAS:
        return [f"no schema in deploy/schemas for {key}"]
    validator = crd_validator(CRD_SCHEMAS[key])
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]


def core_errors(obj: dict[str, Any]) -> list[str]:
    """Errors of one built-in Kubernetes object against the official schemas (strict: no unknown fields)."""
    try:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'/'.join(map(str, exc.path))}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [exc.message]
    return []


def is_custom(obj: dict[str, Any]) -> bool:
    """True for Dapr and Strimzi resources, which have no schema in kubernetes-validate."""
    return obj["apiVersion"].split("/")[0] in {"dapr.io", "kafka.strimzi.io"}


def of_kind(objs: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    """Objects of one kind by name."""
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def workload_containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """Containers and init containers of a Deployment, StatefulSet or Job."""
    spec = obj["spec"]["template"]["spec"]
    return spec.get("containers", []) + spec.get("initContainers", [])


def image_pinned(image: str) -> bool:
    """True when an image reference names a digest or an explicit tag other than `latest`."""
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    return ":" in last and last.rsplit(":", 1)[1] not in ("", "latest")


def metadata_value(component: dict[str, Any], name: str) -> Any:
    """The value of one spec.metadata item of a Dapr component (None when absent)."""
    for item in component["spec"]["metadata"]:
        if item["name"] == name:
            return item.get("value")
    return None


def subscription_contract(docs: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    """The (topic, pubsub, route, dead letter, scopes) tuples of Subscription resources."""
    return {
        (
            s["spec"]["topic"],
            s["spec"]["pubsubname"],
            s["spec"]["routes"].get("default"),
            s["spec"].get("deadLetterTopic"),
            tuple(sorted(s.get("scopes", []))),
        )
        for s in docs
        if s["kind"] == "Subscription"
    }


def dockerfile_stages(text: str) -> list[list[str]]:
    """Instructions of each build stage (continuation lines joined, comments dropped)."""
    joined = re.sub(r"\\\n", " ", text)
    stages: list[list[str]] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def dockerfile_problems(text: str) -> list[str]:
    """What the Dockerfile lacks: multi-stage, pinned bases, non-root, HEALTHCHECK, no runtime compilers."""
    problems = []
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", text, flags=re.M))
    stages = dockerfile_stages(text)
    if len(stages) < 2:
        problems.append("not multi-stage")
    for stage in stages:
        base = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), stage[0].split()[1])
        if not image_pinned(base):
            problems.append(f"base image not pinned: {base}")
    final = stages[-1] if stages else []
    users = [i.split()[1] for i in final if i.upper().startswith("USER ")]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("final stage does not switch to a non-root USER")
    if not any(i.upper().startswith("HEALTHCHECK ") and "/healthz" in i for i in final):
        problems.append("final stage has no HEALTHCHECK against /healthz")
    for i in final:
        if i.upper().startswith("RUN ") and COMPILERS.search(i):
            problems.append(f"compiler in the final stage: {i}")
    if not any(i.upper().startswith("COPY ") and "--from=" in i for i in final):
        problems.append("final stage copies nothing from a build stage")
    if not any(i.replace(" ", "") == 'ENTRYPOINT["taskstream"]' for i in final):
        problems.append('ENTRYPOINT is not ["taskstream"]')
    # Builders without BuildKit (`az acr build`, the classic docker builder) reject these.
    for stage in stages:
        for i in stage:
            if re.match(r"(RUN|COPY|ADD)\s+--(mount|link|chmod|parents)\b", i, flags=re.I) or "<<" in i:
                problems.append(f"needs BuildKit: {i}")
    return problems


# ---------------------------------------------------------------- kustomize overlays


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_every_service(overlay: str) -> None:
    objs = render(overlay)
    deployments = of_kind(objs, "Deployment")
    assert sorted(deployments) == sorted(f"taskstream-{s}" for s in SERVICES)
    assert sorted(of_kind(objs, "HorizontalPodAutoscaler")) == sorted(AUTOSCALED)
    assert "taskstream-migrate" in of_kind(objs, "Job")
    assert {"Ingress", "NetworkPolicy", "PodDisruptionBudget", "ConfigMap", "Kafka", "KafkaNodePool"} <= {
        o["kind"] for o in objs
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_core_objects_match_kubernetes_schemas(overlay: str) -> None:
    errors = [
        f"{o['kind']}/{o['metadata']['name']}: {e}"
        for o in render(overlay)
        if not is_custom(o)
        for e in core_errors(o)
    ]
    assert errors == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_dapr_and_strimzi_resources_match_their_schemas(overlay: str) -> None:
    custom = [o for o in render(overlay) if is_custom(o)]
    assert {o["kind"] for o in custom} == {k for _, k in CRD_SCHEMAS}
    errors = [f"{o['kind']}/{o['metadata']['name']}: {e}" for o in custom for e in schema_errors(o)]
    assert errors == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_image_is_pinned(overlay: str) -> None:
    workloads = [o for o in render(overlay) if o["kind"] in ("Deployment", "StatefulSet", "Job")]
    images = {c["image"] for w in workloads for c in workload_containers(w)}
    assert images and [i for i in images if not image_pinned(i)] == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployments_have_probes_resources_and_a_locked_down_security_context(overlay: str) -> None:
    objs = render(overlay)
    configurations = of_kind(objs, "Configuration")
    for name, dep in of_kind(objs, "Deployment").items():
        pod = dep["spec"]["template"]
        ann = pod["metadata"]["annotations"]
        assert ann["dapr.io/enabled"] == "true" and ann["dapr.io/app-id"] == name, name
        assert ann["dapr.io/app-port"] == "8000" and ann["dapr.io/config"] in configurations, name
        psc = pod["spec"]["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["seccompProfile"]["type"] == "RuntimeDefault", name
        (app,) = pod["spec"]["containers"]
        assert app["args"] == ["serve", name.removeprefix("taskstream-")]
        assert app["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert app["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert {"cpu", "memory"} <= set(app["resources"]["requests"]) & set(app["resources"]["limits"]), name
        sc = app["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, name
        assert sc["capabilities"]["drop"] == ["ALL"], name
        tmp = {m["name"] for m in app["volumeMounts"] if m["mountPath"] == "/tmp"}
        assert any(v["name"] in tmp and "emptyDir" in v for v in pod["spec"]["volumes"]), name
        refs = {r.get("secretRef", {}).get("name") for r in app["envFrom"]}
        assert "taskstream-secrets" in refs, name
        assert ("replicas" in dep["spec"]) == (name not in AUTOSCALED), name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_is_committed(overlay: str) -> None:
    assert [o["metadata"]["name"] for o in render(overlay) if o["kind"] == "Secret"] == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_hpas_and_pdbs_point_at_real_workloads(overlay: str) -> None:
    objs = render(overlay)
    deployments = of_kind(objs, "Deployment")
    pod_labels = [d["spec"]["template"]["metadata"]["labels"] for d in deployments.values()]
    for svc in of_kind(objs, "Service").values():
        if svc["metadata"]["name"].startswith("taskstream-"):
            assert any(svc["spec"]["selector"].items() <= labels.items() for labels in pod_labels)
    for hpa in of_kind(objs, "HorizontalPodAutoscaler").values():
        assert hpa["spec"]["scaleTargetRef"]["name"] in deployments
        assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    covered = {
        p["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
        for p in of_kind(objs, "PodDisruptionBudget").values()
    }
    assert covered == set(deployments)
    # A pod that is not ready never blocks a node drain.
    for name, pdb in of_kind(objs, "PodDisruptionBudget").items():
        assert pdb["spec"].get("unhealthyPodEvictionPolicy") == "AlwaysAllow", name


def ingress_backend(ingresses: list[dict[str, Any]], path: str) -> str | None:
    """The Service an Ingress controller sends `path` to (Exact first, then the longest Prefix), or None."""
    exact, prefixes = None, []
    for ingress in ingresses:
        for rule in ingress["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                service = p["backend"]["service"]["name"]
                if p["pathType"] == "Exact" and p["path"] == path:
                    exact = service
                elif p["pathType"] == "Prefix":
                    base = p["path"].rstrip("/")
                    if path == base or path.startswith(base + "/"):
                        prefixes.append((len(base), service))
    return exact or (max(prefixes)[1] if prefixes else None)


# Routes the api serves for daprd, the kubelet or Prometheus, never for a browser.
PRIVATE_PATHS = [
    "/dapr/subscribe",
    "/dapr/config",
    "/dapr/events/task-events",
    "/dapr/events/task-updates",
    "/job/reminder-1",
    "/metrics",
    "/healthz",
    "/readyz",
]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingress_sends_only_public_paths_and_the_websocket_to_realtime(overlay: str) -> None:
    ingresses = list(of_kind(render(overlay), "Ingress").values())
    assert {i["metadata"]["name"] for i in ingresses} == {"taskstream", "taskstream-ws"}
    reached = {p: ingress_backend(ingresses, p) for p in PRIVATE_PATHS}
    assert reached == dict.fromkeys(PRIVATE_PATHS), "private routes reachable through the Ingress"
    index = (ROOT / "src" / "taskstream" / "web" / "index.html").read_text()
    assets = set(re.findall(r'(?:href|src)="(/[^"#]*)"', index))
    public = {"/", "/api/v1/tasks", "/api/v1/accounts/login", "/docs", "/docs/init.js", "/openapi.json"}
    wanted = public | assets
    assert assets and {p: ingress_backend(ingresses, p) for p in wanted} == dict.fromkeys(
        wanted, "taskstream-api"
    )
    assert ingress_backend(ingresses, "/api/v1/ws") == "taskstream-realtime"
    # Hour-long timeouts only where the WebSocket goes; every other request keeps the controller's defaults.
    for ingress in ingresses:
        ann = ingress["metadata"].get("annotations", {})
        long_lived = int(ann.get("nginx.ingress.kubernetes.io/proxy-read-timeout", "60")) >= 3600
        paths = [p["path"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]]
        assert long_lived == (paths == ["/api/v1/ws"]), ingress["metadata"]["name"]
        assert ingress["spec"]["ingressClassName"]
    assert len({r["host"] for i in ingresses for r in i["spec"]["rules"]}) == 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_metrics_have_a_port_that_no_service_or_ingress_names(overlay: str) -> None:
    objs = render(overlay)
    (config,) = of_kind(objs, "ConfigMap").values()
    port = int(config["data"]["TASKSTREAM_METRICS_PORT"])
    assert port != int(config["data"]["TASKSTREAM_PORT"])
    for name, dep in of_kind(objs, "Deployment").items():
        assert int(dep["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"]) == port, name
        ports = dep["spec"]["template"]["spec"]["containers"][0]["ports"]
        assert {"name": "metrics", "containerPort": port, "protocol": "TCP"} in ports, name
    for svc in of_kind(objs, "Service").values():
        for p in svc["spec"]["ports"]:
            assert p.get("targetPort") not in (port, "metrics"), svc["metadata"]["name"]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """True when a label selector (matchLabels; matchExpressions with In or Exists) selects `labels`."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        value = labels.get(expr["key"])
        if not {"In": value in expr.get("values", []), "Exists": value is not None}[expr["operator"]]:
            return False
    return True


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_deny_by_default_and_open_no_pod_to_pod_path(overlay: str) -> None:
    objs = render(overlay)
    policies = of_kind(objs, "NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {} and sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in deny and "egress" not in deny
    apps = [d["spec"]["template"]["metadata"]["labels"] for d in of_kind(objs, "Deployment").values()]
    for name, policy in policies.items():
        spec = policy["spec"]
        if not any(selects(spec["podSelector"], labels) for labels in apps):
            continue
        for rule in spec.get("ingress", []):
            # Every way in names the namespace it comes from and the ports it may reach: no pod of this
            # namespace can post a forged event to another service.
            assert rule.get("from") and rule.get("ports"), name
            assert all("namespaceSelector" in peer for peer in rule["from"]), f"{name} lets this namespace in"
        for rule in spec.get("egress", []):
            assert rule.get("to") or rule.get("ports"), f"{name} opens all egress"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_passes_the_dapr_tokens_both_ways(overlay: str) -> None:
    """daprd sends its app token to the app; the app sends its API token to daprd; one Secret each."""
    variables = {
        "dapr.io/app-token-secret": "TASKSTREAM_DAPR_APP_TOKEN",
        "dapr.io/api-token-secret": "TASKSTREAM_DAPR_API_TOKEN",
    }
    for name, dep in of_kind(render(overlay), "Deployment").items():
        pod = dep["spec"]["template"]
        env = {e["name"]: e for e in pod["spec"]["containers"][0].get("env", [])}
        for annotation, variable in variables.items():
            secret = pod["metadata"]["annotations"].get(annotation)
            assert secret, f"{name} has no {annotation}"
            ref = env.get(variable, {}).get("valueFrom", {}).get("secretKeyRef", {})
            assert (ref.get("name"), ref.get("key")) == (secret, "token"), f"{name}: {variable}"


def overlay_copy(tmp_path: Path, overlay: str) -> Path:
    """A copy of deploy/ under tmp_path; returns the copied overlay's kustomization.yaml."""
    shutil.copytree(DEPLOY / "k8s", tmp_path / "k8s")
    return tmp_path / "k8s" / "overlays" / overlay / "kustomization.yaml"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_an_overlays_broker_address_reaches_both_dapr_components(overlay: str, tmp_path: Path) -> None:
    kustomization = overlay_copy(tmp_path, overlay)
    text = kustomization.read_text()
    default = "TASKSTREAM_KAFKA_BOOTSTRAP=taskstream-kafka-bootstrap.kafka.svc.cluster.local:9092"
    assert default in text
    kustomization.write_text(text.replace(default, "TASKSTREAM_KAFKA_BOOTSTRAP=kafka.example.net:9094"))
    components = of_kind(kustomize(kustomization.parent), "Component")
    for name in ("pubsub", "pubsub-broadcast"):
        assert metadata_value(components[name], "brokers") == "kafka.example.net:9094", name


def test_managed_kafka_components_switch_both_dapr_components_to_sasl(tmp_path: Path) -> None:
    """Event Hubs as docs/deploy.md section 6 sets it up: no Strimzi, SASL over TLS, protocol 1.0.0."""
    kustomization = overlay_copy(tmp_path, "aks")
    doc = yaml.safe_load(kustomization.read_text())
    doc["resources"].remove("../../kafka")
    doc["patches"] = [p for p in doc["patches"] if p["target"]["kind"] != "KafkaNodePool"]
    doc["components"] = [
        "../../components/managed-kafka",
        "../../components/event-hubs",
        *doc["components"],
    ]
    bootstrap = "myns.servicebus.windows.net:9093"
    doc["configMapGenerator"][0]["literals"] = [f"TASKSTREAM_KAFKA_BOOTSTRAP={bootstrap}"]
    kustomization.write_text(yaml.safe_dump(doc))
    objs = kustomize(kustomization.parent)
    assert not {"Kafka", "KafkaNodePool", "KafkaTopic"} & {o["kind"] for o in objs}
    components = of_kind(objs, "Component")
    for name in ("pubsub", "pubsub-broadcast"):
        component = components[name]
        assert schema_errors(component) == [], name
        items = {m["name"]: m for m in component["spec"]["metadata"]}
        assert metadata_value(component, "brokers") == bootstrap, name
        assert (metadata_value(component, "authType"), metadata_value(component, "disableTls")) == (
            "password",
            "false",
        )
        assert metadata_value(component, "version") == "1.0.0", name
        assert metadata_value(component, "saslMechanism") == "PLAIN", name
        for item, key in (("saslUsername", "username"), ("saslPassword", "password")):
            assert items[item]["secretKeyRef"] == {"name": "kafka-credentials", "key": key}, (name, item)
    assert metadata_value(components["pubsub-broadcast"], "initialOffset") == "newest"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_relay_keeps_a_standby_through_rollouts_and_drains(overlay: str) -> None:
    objs = render(overlay)
    relay = of_kind(objs, "Deployment")["taskstream-relay"]["spec"]
    assert relay["replicas"] >= 2
    assert (
        relay["strategy"]["type"] == "RollingUpdate"
        and relay["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    )
    spread = relay["template"]["spec"]["topologySpreadConstraints"]
    assert {(c["topologyKey"], c["whenUnsatisfiable"]) for c in spread} >= {
        ("kubernetes.io/hostname", "DoNotSchedule")
    }
    pdb = of_kind(objs, "PodDisruptionBudget")["taskstream-relay"]["spec"]
    assert pdb.get("maxUnavailable", relay["replicas"] - pdb.get("minAvailable", 0)) < relay["replicas"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_nodes_spread_over_hosts_and_zones(overlay: str) -> None:
    objs = render(overlay)
    (pool,) = of_kind(objs, "KafkaNodePool").values()
    spread = {
        c["topologyKey"]: c["whenUnsatisfiable"]
        for c in pool["spec"]["template"]["pod"]["topologySpreadConstraints"]
    }
    assert spread["kubernetes.io/hostname"] == "DoNotSchedule"
    (kafka,) = of_kind(objs, "Kafka").values()
    if pool["spec"]["replicas"] > 1:  # minikube's single node has no zone
        assert "topology.kubernetes.io/zone" in spread
        assert kafka["spec"]["kafka"]["rack"]["topologyKey"] == "topology.kubernetes.io/zone"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_autoscalers_measure_the_app_container_alone(overlay: str) -> None:
    objs = render(overlay)
    deployments = of_kind(objs, "Deployment")
    for name, hpa in of_kind(objs, "HorizontalPodAutoscaler").items():
        target = deployments[hpa["spec"]["scaleTargetRef"]["name"]]
        containers = {c["name"] for c in target["spec"]["template"]["spec"]["containers"]}
        for metric in hpa["spec"]["metrics"]:
            assert metric["type"] == "ContainerResource", name
            assert metric["containerResource"]["container"] in containers, name


def mebibytes(quantity: str) -> float:
    """A Kubernetes or Go memory quantity (Mi, Gi, MiB, GiB) in MiB."""
    number, unit = re.fullmatch(r"(\d+)\s*(Mi|Gi|MiB|GiB)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * (1024 if unit.startswith("G") else 1)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_sidecars_collect_garbage_before_their_memory_limit(overlay: str) -> None:
    for name, dep in of_kind(render(overlay), "Deployment").items():
        ann = dep["spec"]["template"]["metadata"]["annotations"]
        env = dict(item.split("=", 1) for item in ann["dapr.io/env"].split(","))
        assert mebibytes(env["GOMEMLIMIT"]) < mebibytes(ann["dapr.io/sidecar-memory-limit"]), name


# Connections a process opens beside its pool: a LISTEN connection in the processes that NOTIFY wakes.
LISTEN_CONNECTIONS = {"taskstream-relay": 1, "taskstream-notifications": 1}


def connections_at_most(objs: tuple[dict[str, Any], ...]) -> tuple[int, int]:
    """PostgreSQL connections at the HPA maxima, pods × (pool + overflow + LISTEN) with the Job, and how many
    more the surge pods of a rollout (one per Deployment, maxSurge 1) open."""
    hpas = {
        h["spec"]["scaleTargetRef"]["name"]: h["spec"]["maxReplicas"]
        for h in of_kind(objs, "HorizontalPodAutoscaler").values()
    }
    total = surge = 0
    workloads = [*of_kind(objs, "Deployment").items(), *of_kind(objs, "Job").items()]
    for name, workload in workloads:
        (app,) = workload["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in app.get("env", [])}
        per_pod = int(env["TASKSTREAM_DB_POOL_SIZE"]) + int(env["TASKSTREAM_DB_MAX_OVERFLOW"])
        per_pod += LISTEN_CONNECTIONS.get(name, 0)
        total += hpas.get(name, workload["spec"].get("replicas", 1)) * per_pod
        if workload["kind"] == "Deployment":
            assert workload["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 1, name
            surge += per_pod
    return total, surge


def documented_connection_budget() -> dict[str, tuple[int, int]]:
    """overlay -> (max_connections, taskstream at most) from the table in docs/deploy.md."""
    text = (ROOT / "docs" / "deploy.md").read_text()
    assert "| overlay | database tier | max_connections | taskstream at most |" in text
    rows = re.findall(r"^\| (\w+) \|[^|\n]*\| (\d+) \| (\d+) \|$", text, flags=re.M)
    return {overlay: (int(limit), int(used)) for overlay, limit, used in rows if overlay in OVERLAYS}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_database_connections_fit_the_documented_max_connections(overlay: str) -> None:
    limit, documented = documented_connection_budget()[overlay]
    used, surge = connections_at_most(render(overlay))
    assert used == documented, (
        f"docs/deploy.md says {documented} connections for {overlay}, the manifests make {used}"
    )
    assert surge == 28, "docs/deploy.md, section 7.1, counts 28 connections of rollout surge pods"
    # Room for the surge pods, superuser_reserved_connections and what a managed service keeps (Azure: 15).
    assert used + surge <= limit - 15, f"{used} + {surge} in a rollout leave under 15 of {limit}"


def scanner(name: str) -> str:
    """Path of a policy scanner installed by deploy/ci/install-tools.sh; skips locally, fails under CI."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "taskstream" / "scanners" / "bin"
    path = shutil.which(name) or (str(cache / name) if (cache / name).exists() else None)
    if path is None:
        reason = f"{name} not found: run deploy/ci/install-tools.sh"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def test_checkov_finds_nothing_outside_the_allow_list(tmp_path: Path) -> None:
    files = [str(DEPLOY / "Dockerfile")]
    for overlay in OVERLAYS:
        rendered = tmp_path / f"{overlay}.yaml"
        rendered.write_text(yaml.safe_dump_all(render(overlay)))
        files.append(str(rendered))
    args = [
        scanner("checkov"),
        "--config-file",
        str(ROOT / ".checkov.yaml"),
        "--quiet",
        "--compact",
        "-o",
        "json",
    ]
    for f in files:
        args += ["-f", f]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path)
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [
        f"{c['check_id']} {c['resource']}: {c['check_name']}"
        for r in reports
        for c in r.get("results", {}).get("failed_checks", [])
    ]
    assert failed == [] and result.returncode == 0, "\n".join(failed) or result.stderr
    assert {r["check_type"] for r in reports} == {"kubernetes", "dockerfile"}
    assert all(r["summary"]["passed"] > 0 for r in reports)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_migration_job_runs_migrate_without_a_sidecar(overlay: str) -> None:
    job = of_kind(render(overlay), "Job")["taskstream-migrate"]
    pod = job["spec"]["template"]
    assert pod["metadata"]["annotations"]["dapr.io/enabled"] == "false"
    assert pod["spec"]["containers"][0]["args"] == ["migrate"]
    assert pod["spec"]["restartPolicy"] == "Never"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_dapr_pubsub_groups_subscriptions_and_broker(overlay: str) -> None:
    objs = render(overlay)
    components = of_kind(objs, "Component")
    shared, fanout = components["pubsub"], components["pubsub-broadcast"]
    assert metadata_value(shared, "consumerGroup") == "{appID}"
    assert metadata_value(shared, "initialOffset") == "oldest"
    assert "{podName}" in metadata_value(fanout, "consumerGroup")
    assert (
        fanout["scopes"] == ["taskstream-api", "taskstream-realtime"]
        and "taskstream-realtime" not in shared["scopes"]
    )
    config = next(iter(of_kind(objs, "ConfigMap").values()))["data"]
    for component in (shared, fanout):
        assert metadata_value(component, "brokers") == config["TASKSTREAM_KAFKA_BOOTSTRAP"]
        assert metadata_value(component, "authType") == "none"
    realtime = of_kind(objs, "Deployment")["taskstream-realtime"]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "TASKSTREAM_DAPR_PUBSUB", "value": "pubsub-broadcast"} in realtime["env"]
    assert subscription_contract(list(objs)) == SUBSCRIPTIONS
    topics = {t["spec"]["topicName"] for t in of_kind(objs, "KafkaTopic").values()}
    assert topics == {s[0] for s in SUBSCRIPTIONS} | {s[3] for s in SUBSCRIPTIONS}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_resiliency_targets_name_existing_bounded_policies(overlay: str) -> None:
    objs = render(overlay)
    (res,) = of_kind(objs, "Resiliency").values()
    policies = res["spec"]["policies"]
    kinds = {"timeout": "timeouts", "retry": "retries", "circuitBreaker": "circuitBreakers"}
    for target, directions in res["spec"]["targets"]["components"].items():
        assert target in of_kind(objs, "Component")
        for direction in directions.values():
            for key, policy in direction.items():
                assert policy in policies[kinds[key]], (target, key, policy)
    assert all(0 < r["maxRetries"] <= 20 for r in policies["retries"].values())
    assert all(c["inbound"]["retry"] for c in res["spec"]["targets"]["components"].values())


# ---------------------------------------------------------------- Dapr resources for compose


def compose_dapr_docs() -> list[dict[str, Any]]:
    """Every resource in deploy/dapr/components plus the sidecar configuration."""
    files = [*sorted((DEPLOY / "dapr" / "components").glob("*.yaml")), DEPLOY / "dapr" / "config.yaml"]
    return [d for f in files for d in load_docs(f.read_text())]


def test_compose_dapr_resources_match_schemas_and_the_subscription_contract() -> None:
    docs = compose_dapr_docs()
    errors = [f"{d['kind']}/{d['metadata']['name']}: {e}" for d in docs for e in schema_errors(d)]
    assert errors == []
    assert subscription_contract(docs) == SUBSCRIPTIONS
    components = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Component"}
    assert metadata_value(components["pubsub"], "consumerGroup") == "{appID}"
    assert "{uuid}" in metadata_value(components["pubsub-broadcast"], "consumerGroup")
    assert components["secretstore"]["spec"]["type"] == "secretstores.local.env"


# ---------------------------------------------------------------- docker compose


@functools.cache
def compose_schema_validator() -> Any:
    """Validator for the Compose Specification schema that check-jsonschema vendors."""
    pytest.importorskip("check_jsonschema")
    ref = importlib.resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(ref.read_text())
    return jsonschema.validators.validator_for(schema)(schema)


def compose() -> dict[str, Any]:
    """deploy/compose.yaml with YAML anchors and merge keys resolved."""
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_matches_the_compose_specification() -> None:
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in compose_schema_validator().iter_errors(compose())
    ]
    assert errors == []


def test_compose_images_are_pinned() -> None:
    images = {name: svc["image"] for name, svc in compose()["services"].items()}
    assert [f"{n}: {i}" for n, i in images.items() if not image_pinned(i)] == []


def test_compose_runs_every_service_with_its_sidecar() -> None:
    services = compose()["services"]
    for name in SERVICES:
        app, sidecar = services[name], services[f"{name}-dapr"]
        assert app["command"] == ["serve", name]
        assert sidecar["network_mode"] == f"service:{name}"
        assert f"--app-id=taskstream-{name}" in sidecar["command"]
        assert "./dapr/components:/components:ro" in sidecar["volumes"]
        assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["realtime"]["environment"]["TASKSTREAM_DAPR_PUBSUB"] == "pubsub-broadcast"
    assert services["migrate"]["command"] == ["migrate"]
    assert "--scheduler-host-address=scheduler:50006" in services["notifications-dapr"]["command"]
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


# ---------------------------------------------------------------- Dockerfile


def test_dockerfile_is_multi_stage_non_root_with_healthcheck_and_no_compilers() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert dockerfile_problems(text) == []
    final = dockerfile_stages(text)[-1]
    assert any(i.replace(" ", "") == 'CMD["serve","api"]' for i in final)


def test_dockerignore_keeps_the_build_context_to_the_package() -> None:
    lines = (ROOT / ".dockerignore").read_text().split()
    assert lines[lines.index("*") + 1 :].count("!src/") == 1 and "!pyproject.toml" in lines


# ---------------------------------------------------------------- the checks themselves can fail


def test_checks_reject_broken_resources() -> None:
    """Negative controls: each validator used above rejects a typical mistake."""
    docs = {d["metadata"]["name"]: d for d in compose_dapr_docs()}
    no_brokers = copy.deepcopy(docs["pubsub"])
    no_brokers["spec"]["metadata"] = [m for m in no_brokers["spec"]["metadata"] if m["name"] != "brokers"]
    assert schema_errors(no_brokers)
    v1_route = copy.deepcopy(docs["task-events"])
    v1_route["spec"]["route"] = v1_route["spec"]["routes"].pop("default")
    del v1_route["spec"]["routes"]
    assert schema_errors(v1_route)
    typo = {"containers": [{"name": "x", "imagee": "y"}]}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {"selector": {}, "template": {"spec": typo}},
    }
    assert core_errors(deployment)
    assert not image_pinned("postgres") and not image_pinned("repo:5000/app:latest")
    assert image_pinned("repo:5000/app:1.2.3")
    bad = 'FROM python:3.11-slim\nRUN apt-get install -y gcc\nCMD ["x"]\n'
    assert len(dockerfile_problems(bad)) >= 4
    bad_compose = compose()
    bad_compose["services"]["api"]["netwrok_mode"] = "host"
    assert list(compose_schema_validator().iter_errors(bad_compose))


# ---------------------------------------------------------------- docs and CI workflows


def test_every_deploy_path_named_in_the_docs_exists() -> None:
    text = (ROOT / "docs" / "deploy.md").read_text()
    named = set(re.findall(r"(?<![\w/.-])((?:deploy|tests|\.github)/[\w./{},-]*[\w}])", text))
    assert named, "docs/deploy.md names no deployment file"
    expanded = {p.replace("{minikube,aks,gke,oke}", o) for p in named for o in OVERLAYS}
    expanded -= {"deploy/.env"}  # the reader creates it from deploy/.env.example
    assert sorted(p for p in expanded if not (ROOT / p).exists()) == []


@pytest.mark.parametrize("workflow", ["ci.yml", "release.yml"])
def test_github_workflows_match_their_schema(workflow: str) -> None:
    pytest.importorskip("check_jsonschema")
    ref = importlib.resources.files("check_jsonschema.builtin_schemas.vendor") / "github-workflows.json"
    schema = json.loads(ref.read_text())
    # PyYAML reads the key `on:` as True (YAML 1.1); GitHub reads it as the string "on".
    doc = yaml.safe_load((ROOT / ".github" / "workflows" / workflow).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    assert [e.message for e in validator.iter_errors(doc)] == []

"""The Dapr resources of a local run, rendered from the Kubernetes ones (deploy/k8s/base/dapr).

The components, subscriptions, resiliency policy and configuration are the files the cluster applies; only
what the platform decides changes: the brokers' address, the secret store (the sidecar's environment instead
of Kubernetes Secrets) and where traces go. Anything else differing between a local run and a cluster is a
bug this keeps from happening.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from taskstream.devdapr.build import DaprUnavailable

K8S_DAPR = Path(__file__).resolve().parents[3] / "deploy" / "k8s" / "base" / "dapr"
RESOURCES = (
    "pubsub.yaml",
    "pubsub-broadcast.yaml",
    "secretstore.yaml",
    "subscriptions.yaml",
    "resiliency.yaml",
)
CONFIGURATION = "configuration.yaml"
LOCAL_SECRET_STORE = "secretstores.local.env"


def _documents(name: str) -> list[dict[str, Any]]:
    path = K8S_DAPR / name
    if not path.exists():
        raise DaprUnavailable(f"{path} is missing: `up --bus dapr` runs from a checkout of the repository")
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _localise(doc: dict[str, Any], *, bootstrap: str) -> dict[str, Any]:
    if doc.get("kind") != "Component":
        return doc
    spec = doc["spec"]
    if spec["type"].startswith("secretstores."):
        spec["type"] = LOCAL_SECRET_STORE
    for item in spec.get("metadata", []):
        if item.get("name") == "brokers":
            item["value"] = bootstrap
    auth = doc.get("auth")
    if isinstance(auth, dict) and "secretStore" in auth:
        auth["secretStore"] = "secretstore"  # the env-backed store above, for secretKeyRef values
    return doc


def render(into: Path, *, bootstrap: str, otlp_endpoint: str | None = None) -> tuple[Path, Path]:
    """Write the resources into `into`/resources and the configuration into `into`/config.yaml.

    `bootstrap` is Kafka's HOST:PORT list; `otlp_endpoint` (host:port of the OTLP/HTTP receiver the services
    export to) makes the sidecars export their spans there too, else their export is left out. Returns
    (resources directory, configuration file).
    """
    resources = into / "resources"
    resources.mkdir(parents=True, exist_ok=True)
    for name in RESOURCES:
        docs = [_localise(doc, bootstrap=bootstrap) for doc in _documents(name)]
        (resources / name).write_text(yaml.safe_dump_all(docs, sort_keys=False))
    [configuration] = _documents(CONFIGURATION)
    tracing = configuration["spec"].get("tracing", {})
    if otlp_endpoint:
        tracing["otel"] = {"endpointAddress": otlp_endpoint, "isSecure": False, "protocol": "http"}
    else:
        tracing.pop("otel", None)
    config = into / "config.yaml"
    config.write_text(yaml.safe_dump(configuration, sort_keys=False))
    return resources, config

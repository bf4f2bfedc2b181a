"""The install (kustomize base), its RBAC and the Dockerfile."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.operator.operator_helpers import k8s_validate

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "deploy" / "kustomize"


def _base_documents() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    documents = []
    for name in kustomization["resources"]:
        documents += [doc for doc in yaml.safe_load_all((BASE / name).read_text()) if doc]
    return documents


def test_every_install_manifest_is_valid_kubernetes() -> None:
    documents = _base_documents()
    kinds = sorted({doc["kind"] for doc in documents})
    assert kinds == [
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "Deployment",
        "Namespace",
        "ServiceAccount",
    ]
    for document in documents:
        k8s_validate(document)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with its built-in kustomize) not installed")
def test_kustomize_build_renders_valid_manifests() -> None:
    result = subprocess.run(["kubectl", "kustomize", str(BASE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    built = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert len(built) == len(_base_documents())
    for document in built:
        k8s_validate(document)
    operator = next(doc for doc in built if doc["kind"] == "Deployment")
    assert operator["spec"]["template"]["spec"]["containers"][0]["image"] == "hivekeeper:0.1.0"


def test_rbac_is_least_privilege() -> None:
    role = next(doc for doc in _base_documents() if doc["kind"] == "ClusterRole")
    granted = set()
    for rule in role["rules"]:
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], f"wildcard {field} in {rule}"
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    granted.add((group, resource, verb))
    child_verbs = {"get", "list", "watch", "create", "patch", "delete"}
    children = {
        ("", "configmaps"),
        ("", "services"),
        ("", "persistentvolumeclaims"),
        ("apps", "deployments"),
        ("networking.k8s.io", "networkpolicies"),
    }
    expected = {(group, resource, verb) for group, resource in children for verb in child_verbs}
    for plural in ("mcpservers", "mcpgateways", "mcpregistries"):
        expected |= {("hivekeeper.dev", plural, verb) for verb in ("get", "list", "watch", "patch")}
        expected |= {("hivekeeper.dev", f"{plural}/status", verb) for verb in ("get", "patch")}
    expected |= {
        ("", "events", "create"),
        ("apiextensions.k8s.io", "customresourcedefinitions", "list"),
        ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
    }
    assert granted == expected
    # Never secrets or pods: Secrets reach MCP pods as secretKeyRef, resolved by the kubelet, not the operator.
    assert not any(resource in ("secrets", "pods", "pods/exec") for _, resource, _ in granted)


def test_operator_pod_is_hardened() -> None:
    deployment = next(doc for doc in _base_documents() if doc["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container["command"][:3] == ["hivekeeper", "kube", "operator"]


def test_dockerfile_builds_a_pinned_non_root_image() -> None:
    lines = [
        line.strip()
        for line in (REPO / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    bases = [line.split()[1] for line in lines if line.startswith("FROM ")]
    assert bases and all(re.match(r"^[\w./-]+:\d+\.\d+\.\d+[\w.-]*$", base) for base in bases), bases
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users == ["65532:65532"]  # numeric, so runAsNonRoot can verify it
    assert lines.index(next(line for line in lines if line.startswith("USER "))) > max(
        index for index, line in enumerate(lines) if line.startswith(("RUN ", "COPY "))
    )
    # builds this repository, with the gRPC exporter an MCPServer's telemetry.otlpProtocol may ask for
    assert any("pip install" in line and " '.[otlp-grpc]'" in line for line in lines)
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored

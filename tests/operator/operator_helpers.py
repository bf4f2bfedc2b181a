"""Helpers of the operator tests: example resources and Kubernetes' own validators."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

FIXTURES = Path(__file__).parent / "fixtures"
# kubernetes-validate ships schemas for 1.25-1.37; the issue asks for these.
K8S_VERSIONS = ["1.30.0", "1.31.0", "1.32.0", "1.33.0", "1.34.0"]


def load(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((FIXTURES / name).read_text()) if doc]


def seed() -> dict[str, Any]:
    return load("seed-mcpserver.yaml")[0]


def with_command(resource: dict[str, Any], command: list[str] | None = None) -> dict[str, Any]:
    changed = copy.deepcopy(resource)
    changed["spec"]["command"] = command or ["slack-mcp"]
    return changed


def k8s_validate(manifest: dict[str, Any]) -> None:
    """Validate against every Kubernetes version in range; strict: unknown fields are errors."""
    for version in K8S_VERSIONS:
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(
                f"{manifest['kind']}/{manifest['metadata']['name']} invalid for Kubernetes {version}: "
                f"{exc.message} at {list(exc.path)}"
            )

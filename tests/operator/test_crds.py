"""The CRDs: valid for Kubernetes 1.30-1.34, structural, and they accept and reject what the models do.

Documents are checked the way the API server does it: the OpenAPI v3 schema (with a real OpenAPI 3.0
validator, unknown fields rejected as ``kubectl``'s strict field validation does) and then the CEL
rules (``x-kubernetes-validations``, evaluated with a CEL implementation).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cel
import pytest
import yaml
from openapi_schema_validator import OAS30Validator

from hivekeeper.errors import ConfigError
from hivekeeper.operator.crds import all_crds, crd
from hivekeeper.operator.render import parse
from hivekeeper.operator.resources import GROUP, KINDS, VERSION
from tests.operator.operator_helpers import k8s_validate, load, seed

REPO = Path(__file__).resolve().parents[2]


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """Unknown fields are errors (kubectl's default field validation), except where preserved."""
    schema = copy.deepcopy(schema)

    def walk(node: dict[str, Any]) -> None:
        if "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
            node.setdefault("additionalProperties", False)
        for child in node.get("properties", {}).values():
            walk(child)
        if isinstance(node.get("items"), dict):
            walk(node["items"])
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"])

    walk(schema)
    return schema


def _schema(kind: str) -> dict[str, Any]:
    return crd(KINDS[kind])["spec"]["versions"][0]["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]


def _cel_rules(schema: dict[str, Any], value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Evaluate every CEL rule on ``value`` (rules see the node as ``self``); yield (path, message) of failures."""
    for rule in schema.get("x-kubernetes-validations", []):
        if not cel.evaluate(rule["rule"], {"self": value}):
            yield path, rule["message"]
    if isinstance(value, dict):
        for name, child in schema.get("properties", {}).items():
            if name in value:
                yield from _cel_rules(child, value[name], f"{path}.{name}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from _cel_rules(schema["items"], item, f"{path}[{index}]")


def _defaulted(schema: dict[str, Any], value: Any) -> Any:
    """Apply the schema's defaults the way the API server does before CEL runs."""
    if isinstance(value, dict):
        result = dict(value)
        for name, child in schema.get("properties", {}).items():
            if name not in result and "default" in child:
                result[name] = copy.deepcopy(child["default"])
            if name in result:
                result[name] = _defaulted(child, result[name])
        return result
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_defaulted(schema["items"], item) for item in value]
    return value


def api_server_errors(document: dict[str, Any]) -> list[str]:
    """What the API server would say about ``document``: schema errors first, then CEL failures."""
    schema = _schema(document["kind"])
    validator = OAS30Validator(_strict(schema))
    errors = [
        ".".join(str(part) for part in error.absolute_path) + ": " + error.message
        for error in validator.iter_errors(document)
    ]
    if errors:
        return errors
    defaulted = _defaulted(schema, document)
    return [f"{path.lstrip('.')}: {message}" for path, message in _cel_rules(schema, defaulted, "")]


def test_crds_are_valid_kubernetes_objects() -> None:
    crds = all_crds()
    assert [item["spec"]["names"]["kind"] for item in crds] == ["MCPServer", "MCPGateway", "MCPRegistry"]
    for item in crds:
        k8s_validate(item)
        assert item["metadata"]["name"] == f"{item['spec']['names']['plural']}.{GROUP}"
        version = item["spec"]["versions"][0]
        assert version["name"] == VERSION and version["subresources"] == {"status": {}}
        columns = {column["name"] for column in version["additionalPrinterColumns"]}
        assert {"Ready", "URL", "Age"} <= columns


def _walk(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _walk(child, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            yield from _walk(node[key], f"{path}[{key}]")


@pytest.mark.parametrize("kind", list(KINDS))
def test_schemas_are_structural(kind: str) -> None:
    """Kubernetes' structural-schema rules: a type everywhere, nothing it forbids."""
    for path, node in _walk(_schema(kind), kind):
        assert "$ref" not in node and "title" not in node, path
        assert "type" in node or node.get("x-kubernetes-int-or-string"), f"{path} has no type"
        if node.get("x-kubernetes-int-or-string"):
            assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}], path
        else:
            assert "anyOf" not in node and "oneOf" not in node, path
        assert not ("properties" in node and "additionalProperties" in node), path
        if node.get("type") == "array":
            assert "items" in node, path


def test_crd_yaml_in_deploy_is_current() -> None:
    committed = list(yaml.safe_load_all((REPO / "deploy/kustomize/crds.yaml").read_text()))
    assert committed == all_crds(), "regenerate: hivekeeper kube crds > deploy/kustomize/crds.yaml"


def test_seed_example_validates_against_the_crd() -> None:
    document = seed()
    assert api_server_errors(document) == []
    parsed = parse(document)  # and the operator's own model accepts it
    assert parsed.spec.network_policy.allowed_endpoints == ["slack.com:443", "*.slack.com:443"]
    assert parsed.spec.secret_refs[0].env == "SLACK_TOKEN"
    assert parsed.spec.policies[0].config.allowed_tools == ["search_messages", "post_message", "list_channels"]


@pytest.mark.parametrize("fixture", ["full-mcpserver.yaml", "gateway-registry.yaml"])
def test_fixture_examples_validate(fixture: str) -> None:
    for document in load(fixture):
        assert api_server_errors(document) == [], document["metadata"]["name"]
        parse(document)


def _server(**spec: Any) -> dict[str, Any]:
    document = seed()
    document["spec"].update(spec)
    return document


# (change to the seed's spec, the field both the API server and the operator must name)
INVALID: list[tuple[dict[str, Any], str]] = [
    ({"image": "bad image"}, "image"),
    ({"transport": "sse"}, "transport"),
    ({"port": 0}, "port"),
    ({"port": 70000}, "port"),
    ({"replicas": 51}, "replicas"),
    ({"replicas": -1}, "replicas"),
    ({"resources": {"limits": {"memory": "lots"}}}, "resources.limits.memory"),
    ({"networkPolicy": {"allowedEndpoints": ["slack.com"]}}, "networkPolicy.allowedEndpoints.0"),
    ({"networkPolicy": {"allowedEndpoints": ["https://slack.com:443"]}}, "networkPolicy.allowedEndpoints.0"),
    ({"networkPolicy": {"allowedEndpoints": ["slack.com:443", "*:443"]}}, "networkPolicy.allowedEndpoints.1"),
    ({"secretRefs": [{"name": "Slack_Token", "env": "SLACK_TOKEN"}]}, "secretRefs.0.name"),
    ({"secretRefs": [{"name": "slack", "env": "1TOKEN"}]}, "secretRefs.0.env"),
    ({"secretRefs": [{"name": "slack"}]}, "secretRefs.0.env"),
    (
        {"policies": [{"type": "tool-allowlist", "config": {"allowedTools": ["has space"]}}]},
        "policies.0.config.allowedTools.0",
    ),
    ({"policies": [{"type": "tool-blocklist", "config": {}}]}, "policies.0.type"),
    ({"policies": [{"type": "tool-allowlist", "config": {}}]}, "policies.0"),
    ({"volumes": [{"name": "v", "mountPath": "/v"}]}, "volumes.0"),
    ({"volumes": [{"name": "v", "mountPath": "relative", "emptyDir": {}}]}, "volumes.0.mountPath"),
    ({"permissionProfile": "network"}, "(spec)"),
    ({"transport": "streamable-http", "targetPort": 8080}, "(spec)"),
    ({"telemetry": {"metrics": "often"}}, "telemetry.metrics"),
    ({"telemetry": {"otlpEndpoint": "collector:4317"}}, "telemetry.otlpEndpoint"),
    ({"podTemplate": {"securityContext": {"privileged": True}}}, "podTemplate"),
    ({"hostNetwork": True}, "(spec)"),
]


@pytest.mark.parametrize(("change", "field"), INVALID, ids=[f for _, f in INVALID])
def test_invalid_examples_are_rejected_naming_the_field(change: dict[str, Any], field: str) -> None:
    document = _server(**change)
    api_errors = api_server_errors(document)
    assert api_errors, f"the CRD accepted {change}"
    with pytest.raises(ConfigError) as caught:
        parse(document)
    message = caught.value.message
    if field == "(spec)":  # whole-spec rules: the API server reports them on spec, the operator too
        assert any(error.startswith("spec") for error in api_errors), api_errors
        assert message.startswith("spec"), message
    else:
        dotted = field.split(".")
        api_paths = [error.split(": ", 1)[0].replace("[", ".").replace("]", "") for error in api_errors]
        # The schema validator names the field itself or (for "required"/unknown keys) its parent.
        assert any(path.startswith("spec." + ".".join(dotted[:-1])) for path in api_paths), api_errors
        assert message.startswith(f"spec.{field}"), message


def test_error_messages_explain_the_expected_shape() -> None:
    with pytest.raises(ConfigError) as caught:
        parse(_server(networkPolicy={"allowedEndpoints": ["slack.com"]}))
    assert caught.value.message == (
        "spec.networkPolicy.allowedEndpoints.0: 'slack.com': expected host:port, "
        "host may start with '*.', port may be '*'"
    )


def test_wrong_group_and_kind_are_rejected() -> None:
    document = seed()
    document["apiVersion"] = "toolhive.stacklok.com/v1alpha1"
    with pytest.raises(ConfigError, match=r"^apiVersion: expected hivekeeper.dev/v1alpha1"):
        parse(document)
    document = seed()
    document["kind"] = "MCPThing"
    with pytest.raises(ConfigError, match=r"^kind: expected one of MCPServer, MCPGateway, MCPRegistry"):
        parse(document)
    for bad_name in ("a" * 57, "9lives", "Slack"):
        document = seed()
        document["metadata"]["name"] = bad_name
        with pytest.raises(ConfigError, match=r"^metadata.name: "):
            parse(document)
        assert api_server_errors(document) == [
            ": metadata.name must be a lowercase DNS label starting with a letter, at most 56 characters"
        ]
    document["metadata"]["name"] = "a" * 56
    assert api_server_errors(document) == []
    parse(document)


def test_cel_rules_agree_with_the_model_on_valid_variants() -> None:
    """Every cross-field rule is written twice; here both sides accept the same valid documents."""
    valid = [
        _server(transport="streamable-http", targetPort=3000),
        _server(permissionProfile="network", networkPolicy={"allowedEndpoints": []}),
        _server(volumes=[{"name": "data", "mountPath": "/data", "emptyDir": {}}]),
        _server(policies=[{"type": "tool-denylist", "config": {"deniedTools": ["post_message"]}}]),
    ]
    for document in valid:
        assert api_server_errors(document) == []
        parse(document)

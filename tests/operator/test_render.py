"""``render``: what the operator creates, validated against Kubernetes' schemas and the restricted PSS."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from typer.testing import CliRunner

from hivekeeper.cli.app import app
from hivekeeper.errors import ConfigError
from hivekeeper.operator.render import RenderOptions, parse, proxy_config, render
from tests.operator.operator_helpers import FIXTURES, k8s_validate, load, seed, with_command

REPO = Path(__file__).resolve().parents[2]


def _all_rendered() -> list[tuple[str, dict[str, Any]]]:
    documents = [with_command(seed()), *load("full-mcpserver.yaml")]
    examples = load("gateway-registry.yaml")
    servers = [doc for doc in examples if doc["kind"] == "MCPServer"]
    out = []
    for document in documents + examples:
        selected = servers if document["kind"] == "MCPGateway" else []
        for manifest in render(document, servers=selected):
            out.append((f"{document['metadata']['name']}:{manifest['kind']}/{manifest['metadata']['name']}", manifest))
    return out


RENDERED = _all_rendered()


def _by(manifests: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


@pytest.mark.parametrize(("label", "manifest"), RENDERED, ids=[label for label, _ in RENDERED])
def test_every_rendered_manifest_is_valid_kubernetes(label: str, manifest: dict[str, Any]) -> None:
    k8s_validate(manifest)


def test_validator_is_not_vacuous() -> None:
    broken = json.loads(json.dumps(RENDERED[0][1]))
    broken["spec"] = {"bogus": True}
    with pytest.raises(pytest.fail.Exception):
        k8s_validate(broken)


# -- Pod Security Standard "restricted" (https://kubernetes.io/docs/concepts/security/pod-security-standards/)

_ALLOWED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """Every check of the restricted profile (plus baseline, which it includes) on one pod spec."""
    problems = []
    pod_security = pod.get("securityContext", {})
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            problems.append(f"{flag} set")
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= _ALLOWED_VOLUMES:
            problems.append(f"volume {volume['name']}: type {kinds - _ALLOWED_VOLUMES} not allowed")
    for sysctl in pod_security.get("sysctls", []):
        problems.append(f"sysctl {sysctl['name']}")
    if pod_security.get("runAsUser") == 0:
        problems.append("pod runAsUser 0")
    pod_seccomp = (pod_security.get("seccompProfile") or {}).get("type")
    for container in pod.get("initContainers", []) + pod.get("containers", []):
        name = container["name"]
        security = container.get("securityContext", {})
        if security.get("privileged"):
            problems.append(f"{name}: privileged")
        if security.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation not false")
        if not (
            security.get("runAsNonRoot")
            or (pod_security.get("runAsNonRoot") and security.get("runAsNonRoot") is not False)
        ):
            problems.append(f"{name}: runAsNonRoot not true")
        if security.get("runAsUser") == 0:
            problems.append(f"{name}: runAsUser 0")
        seccomp = (security.get("seccompProfile") or {}).get("type") or pod_seccomp
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile {seccomp}")
        capabilities = security.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            problems.append(f"{name}: capabilities not dropping ALL")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities {capabilities['add']}")
        if security.get("procMount", "Default") != "Default":
            problems.append(f"{name}: procMount")
        for port in container.get("ports", []):
            if port.get("hostPort"):
                problems.append(f"{name}: hostPort")
        # Beyond the standard, required by the issue for every hivekeeper-rendered container:
        if security.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: root filesystem writable")
    return problems


PODS = [(label, m["spec"]["template"]["spec"]) for label, m in RENDERED if m["kind"] == "Deployment"]


@pytest.mark.parametrize(("label", "pod"), PODS, ids=[label for label, _ in PODS])
def test_rendered_pods_pass_the_restricted_pod_security_standard(label: str, pod: dict[str, Any]) -> None:
    assert restricted_violations(pod) == []
    assert pod["automountServiceAccountToken"] is False


def test_the_policy_lint_catches_violations() -> None:
    pod = json.loads(json.dumps(PODS[0][1]))
    pod["hostNetwork"] = True
    pod["volumes"].append({"name": "host", "hostPath": {"path": "/"}})
    container = pod["containers"][0]["securityContext"]
    container.update(allowPrivilegeEscalation=True, privileged=True, capabilities={"add": ["SYS_ADMIN"]})
    container["seccompProfile"] = {"type": "Unconfined"}
    problems = restricted_violations(pod)
    assert len(problems) == 7, problems


# -- the MCPServer's shape


def test_seed_server_renders_the_designed_pod() -> None:
    manifests = render(with_command(seed()), options=RenderOptions(hivekeeper_image="hk:test"))
    kinds = [(m["kind"], m["metadata"]["name"]) for m in manifests]
    assert kinds == [
        ("ConfigMap", "slack-mcp-proxy"),
        ("Deployment", "slack-mcp-egress"),
        ("Service", "slack-mcp-egress"),
        ("NetworkPolicy", "slack-mcp-egress"),
        ("Deployment", "slack-mcp"),
        ("Service", "slack-mcp"),
        ("NetworkPolicy", "slack-mcp"),
    ]
    pod = _by(manifests, "Deployment", "slack-mcp")["spec"]["template"]["spec"]
    server, proxy = pod["containers"]
    assert server["image"] == "ghcr.io/example/slack-mcp:v1.2.0"
    assert server["resources"] == {"limits": {"memory": "256Mi", "cpu": "500m"}}
    assert server["command"] == ["/bin/sh", "-c", 'exec "$@" <"$0/in" >"$0/out"', "/run/hivekeeper/stdio", "slack-mcp"]
    assert {
        "name": "SLACK_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "slack-api-token", "key": "SLACK_TOKEN"}},
    } in server["env"]
    env = {item["name"]: item.get("value") for item in server["env"]}
    assert env["HTTPS_PROXY"] == "http://$(SLACK_MCP_EGRESS_SERVICE_HOST):$(SLACK_MCP_EGRESS_SERVICE_PORT)"
    assert proxy["image"] == "hk:test"
    assert proxy["command"][:4] == ["hivekeeper", "gateway", "--config", "/etc/hivekeeper/gateway.yaml"]
    init = pod["initContainers"][0]["command"]
    assert init == ["hivekeeper", "kube", "stdio-pipe", "--init", "/run/hivekeeper/stdio"]
    config = yaml.safe_load(_by(manifests, "ConfigMap", "slack-mcp-proxy")["data"]["gateway.yaml"])
    assert config["backends"] == [
        {
            "name": "slack-mcp",
            "command": ["hivekeeper", "kube", "stdio-pipe", "/run/hivekeeper/stdio"],
            "tools": {"allow": ["search_messages", "post_message", "list_channels"]},
        }
    ]
    egress = _by(manifests, "Deployment", "slack-mcp-egress")["spec"]["template"]["spec"]["containers"][0]
    assert egress["command"] == [
        "hivekeeper",
        "egress-proxy",
        "--listen",
        "0.0.0.0:3128",
        "--allow",
        "slack.com:443",
        "--allow",
        "*.slack.com:443",
    ]
    service = _by(manifests, "Service", "slack-mcp")
    assert service["spec"]["ports"][0]["port"] == 8080 and service["spec"]["ports"][0]["targetPort"] == "mcp"
    assert "ownerReferences" not in service["metadata"]  # rendered from a file, no uid yet


def test_server_network_policy_allows_only_the_egress_proxy() -> None:
    manifests = render(with_command(seed()))
    policy = _by(manifests, "NetworkPolicy", "slack-mcp")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["egress"] == [
        {
            "to": [
                {
                    "podSelector": {
                        "matchLabels": {
                            "hivekeeper.dev/mcpserver": "slack-mcp",
                            "app.kubernetes.io/component": "egress-proxy",
                        }
                    }
                }
            ],
            "ports": [{"protocol": "TCP", "port": 3128}],
        }
    ]  # no DNS: the proxy's address comes from service links
    assert policy["ingress"] == [{"ports": [{"protocol": "TCP", "port": 8080}]}]
    egress_policy = _by(manifests, "NetworkPolicy", "slack-mcp-egress")["spec"]
    dns, web = egress_policy["egress"]
    assert dns["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    assert web == {
        "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16"]}}],
        "ports": [{"protocol": "TCP", "port": 443}],
    }
    # The egress proxy is reachable only from this server's pods.
    assert (
        egress_policy["ingress"][0]["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        == "mcp-server"
    )


def test_no_allowed_endpoints_means_no_egress_at_all() -> None:
    document = with_command(seed())
    del document["spec"]["networkPolicy"]
    manifests = render(document)
    assert [m["kind"] for m in manifests] == ["ConfigMap", "Deployment", "Service", "NetworkPolicy"]
    assert _by(manifests, "NetworkPolicy", "slack-mcp")["spec"]["egress"] == []
    server = _by(manifests, "Deployment", "slack-mcp")["spec"]["template"]["spec"]["containers"][0]
    assert not any(item["name"].upper() == "HTTPS_PROXY" for item in server["env"])


def test_otlp_grpc_reaches_the_proxy_config_and_egress() -> None:
    from hivekeeper.gateway.config import GatewayConfig

    document = load("full-mcpserver.yaml")[0]
    document["spec"]["telemetry"].update(otlpEndpoint="http://collector.observability.svc:4317", otlpProtocol="grpc")
    config = proxy_config(parse(document))
    telemetry = GatewayConfig.model_validate(config).telemetry
    assert (telemetry.otlp_protocol, telemetry.otlp_endpoint) == ("grpc", "http://collector.observability.svc:4317")
    egress = _by(render(document), "Deployment", "everything-egress")["spec"]["template"]["spec"]["containers"][0]
    assert "collector.observability.svc:4317" in egress["command"]


def test_network_profile_opens_egress() -> None:
    document = with_command(seed())
    del document["spec"]["networkPolicy"]
    document["spec"]["permissionProfile"] = "network"
    manifests = render(document)
    assert _by(manifests, "NetworkPolicy", "slack-mcp")["spec"]["egress"] == [{}]
    assert not any(m["metadata"]["name"].endswith("-egress") for m in manifests)


def test_full_example_maps_every_field() -> None:
    document = load("full-mcpserver.yaml")[0]
    document["metadata"]["uid"] = "4b1c2d3e-0000-4000-8000-000000000001"
    manifests = render(document)
    deployment = _by(manifests, "Deployment", "everything")
    assert deployment["spec"]["replicas"] == 2
    template = deployment["spec"]["template"]
    pod = template["spec"]
    server = pod["containers"][0]
    assert "initContainers" not in pod  # streamable-http: no FIFOs
    assert server["command"] == ["node", "/app/dist/index.js"] and server["args"] == ["streamableHttp"]
    assert server["ports"] == [{"name": "server", "containerPort": 3001, "protocol": "TCP"}]
    assert server["resources"] == {
        "limits": {"cpu": "1", "memory": "512Mi"},
        "requests": {"cpu": "100m", "memory": "128Mi"},
    }
    assert {"name": "GITHUB_TOKEN", "valueFrom": {"secretKeyRef": {"name": "github-token", "key": "token"}}} in server[
        "env"
    ]
    mounts = {mount["mountPath"]: mount["readOnly"] for mount in server["volumeMounts"] if mount["name"] != "tmp"}
    assert mounts == {"/data": False, "/etc/certs": True, "/etc/everything": True, "/cache": True}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert volumes["user-certs"] == {"name": "user-certs", "secret": {"secretName": "internal-ca"}}
    assert volumes["user-data"]["emptyDir"] == {"sizeLimit": "100Mi"}
    assert volumes["authz"]["configMap"] == {
        "name": "everything-cedar",
        "items": [{"key": "policies.cedar", "path": "policies.cedar"}],
    }
    assert pod["runtimeClassName"] == "gvisor" and pod["priorityClassName"] == "mcp-servers"
    assert pod["imagePullSecrets"] == [{"name": "registry-creds"}]
    assert pod["tolerations"][0]["key"] == "dedicated" and "podAntiAffinity" in pod["affinity"]
    assert template["metadata"]["labels"]["cost-center"] == "42"
    assert template["metadata"]["annotations"]["example.com/owner"] == "platform"
    config = proxy_config(parse(document))
    assert config["backends"][0] == {
        "name": "everything",
        "url": "http://127.0.0.1:3001/mcp",
        "tools": {"allow": ["echo", "add"], "deny": ["longRunningOperation"]},
    }
    assert config["authorization"] == {"policy_file": "/etc/hivekeeper/authz/policies.cedar"}
    assert config["audit"] == {"stdout": True, "arguments": True}
    assert config["telemetry"] == {
        "service_name": "everything",
        "metrics": True,
        "otlp_endpoint": "http://otel-collector.observability.svc:4318",
        "otlp_protocol": "http/protobuf",
    }
    assert config["conflict"] == "priority" and config["front"] == {"loopback_only": False}
    proxy_env = {item["name"]: item["value"] for item in pod["containers"][1]["env"]}
    assert proxy_env["HTTPS_PROXY"] == "http://$(EVERYTHING_EGRESS_SERVICE_HOST):$(EVERYTHING_EGRESS_SERVICE_PORT)"
    assert pod["containers"][1]["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "mcp"}
    # The OTLP collector is reached through the egress proxy like everything else.
    egress = _by(manifests, "Deployment", "everything-egress")["spec"]["template"]["spec"]["containers"][0]
    allowed = egress["command"][egress["command"].index("--allow") :][1::2]
    assert allowed == [
        "api.github.com:443",
        "*.githubusercontent.com:443",
        "10.0.0.7:5432",
        "mirror.internal",
        "otel-collector.observability.svc:4318",
    ]
    egress_rules = _by(manifests, "NetworkPolicy", "everything-egress")["spec"]["egress"]
    assert {"to": [{"ipBlock": {"cidr": "10.0.0.7/32"}}], "ports": [{"protocol": "TCP", "port": 5432}]} in egress_rules
    assert {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16"]}}]} in egress_rules  # port "*"
    for manifest in manifests:
        owner = manifest["metadata"]["ownerReferences"][0]
        assert owner["uid"] == "4b1c2d3e-0000-4000-8000-000000000001" and owner["controller"] is True
        assert manifest["metadata"]["namespace"] == "mcp"
    ingress = _by(manifests, "NetworkPolicy", "everything")["spec"]["ingress"]
    assert ingress == [{"ports": [{"protocol": "TCP", "port": 8080}]}]  # never the server's own 3001


def test_policy_change_rolls_the_deployment() -> None:
    before = render(with_command(seed()))
    changed = with_command(seed())
    changed["spec"]["policies"][0]["config"]["allowedTools"] = ["search_messages"]
    after = render(changed)

    def config_hash(manifests: list[dict[str, Any]]) -> str:
        deployment = _by(manifests, "Deployment", "slack-mcp")
        return str(deployment["spec"]["template"]["metadata"]["annotations"]["hivekeeper.dev/config-hash"])

    assert config_hash(before) != config_hash(after)
    assert config_hash(before) == config_hash(render(with_command(seed())))  # deterministic


def test_pod_template_override_cannot_replace_selector_labels() -> None:
    document = with_command(seed())
    document["spec"]["podTemplate"] = {"labels": {"hivekeeper.dev/mcpserver": "someone-else"}}
    deployment = _by(render(document), "Deployment", "slack-mcp")
    assert deployment["spec"]["template"]["metadata"]["labels"]["hivekeeper.dev/mcpserver"] == "slack-mcp"


def test_stdio_without_command_is_a_field_error() -> None:
    with pytest.raises(ConfigError, match=r"^spec.command: required for transport stdio"):
        render(seed())


def test_gateway_config_lists_the_selected_servers() -> None:
    examples = load("gateway-registry.yaml")
    gateway = next(doc for doc in examples if doc["kind"] == "MCPGateway")
    servers = [
        doc
        for doc in examples
        if doc["kind"] == "MCPServer" and doc["metadata"].get("labels", {}).get("gateway") == "main"
    ]
    manifests = render(gateway, servers=servers)
    config = yaml.safe_load(_by(manifests, "ConfigMap", "main-gateway")["data"]["gateway.yaml"])
    deny = {"deny": ["git_reset"]}
    assert config["backends"] == [
        {"name": "git", "url": "http://git.mcp.svc:8080/mcp", "tools": deny},
        {"name": "time", "url": "http://time.mcp.svc:8080/mcp", "tools": deny},
    ]
    oidc = {
        "issuer": "https://login.example.com/",
        "audience": ["hivekeeper"],
        "jwks_url": "https://login.example.com/jwks",
    }
    assert config["auth"] == {"oidc": oidc}
    assert config["search"] == {"mode": "meta", "k": 8, "pinned": ["time_get_current_time"]}
    assert config["authorization"] == {"policy_file": "/etc/hivekeeper/authz/policies.cedar"}
    assert _by(manifests, "Deployment", "main")["spec"]["replicas"] == 2
    idle = render(gateway, servers=[])  # nothing selected: the gateway waits at zero replicas
    assert _by(idle, "Deployment", "main")["spec"]["replicas"] == 0


CONFIGS = [(label, m) for label, m in RENDERED if m["kind"] == "ConfigMap" and "gateway.yaml" in m["data"]]


@pytest.mark.parametrize(("label", "config_map"), CONFIGS, ids=[label for label, _ in CONFIGS])
def test_rendered_proxy_configs_are_valid_gateway_configs(label: str, config_map: dict[str, Any]) -> None:
    """The contract with ``hivekeeper gateway --config``: its own model accepts what the operator writes."""
    from hivekeeper.gateway.config import GatewayConfig

    config = GatewayConfig.model_validate(yaml.safe_load(config_map["data"]["gateway.yaml"]))
    assert config.front.loopback_only is False
    assert config.backends


def test_registry_storage_variants() -> None:
    examples = {doc["metadata"]["name"]: doc for doc in load("gateway-registry.yaml") if doc["kind"] == "MCPRegistry"}
    sqlite = render(examples["catalog"])
    assert _by(sqlite, "PersistentVolumeClaim", "catalog-data")["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert _by(sqlite, "Deployment", "catalog")["spec"]["strategy"] == {"type": "Recreate"}
    postgres = render(examples["catalog-ha"])
    assert not any(m["kind"] == "PersistentVolumeClaim" for m in postgres)
    container = _by(postgres, "Deployment", "catalog-ha")["spec"]["template"]["spec"]["containers"][0]
    assert {
        "name": "HIVEKEEPER_REGISTRY_DATABASE_URL",
        "valueFrom": {"secretKeyRef": {"name": "registry-db", "key": "url"}},
    } in container["env"]
    with pytest.raises(ConfigError, match="sqlite storage serves one replica"):
        render({**examples["catalog"], "spec": {**examples["catalog"]["spec"], "replicas": 2}})
    server, sync = _by(sqlite, "Deployment", "catalog")["spec"]["template"]["spec"]["containers"]
    assert server["command"] == [
        "hivekeeper",
        "serve",
        "--config",
        "/etc/hivekeeper/serve.yaml",
        "--host",
        "0.0.0.0",
        "--port",
        "8080",
    ]
    assert sync["command"][-2:] == ["/etc/hivekeeper/serve.yaml", "21600"]  # syncInterval 6h
    assert {"name": "HIVEKEEPER_HOME", "value": "/var/lib/hivekeeper"} in sync["env"]
    assert [c["name"] for c in container_list(postgres, "catalog-ha")] == ["registry"]  # no sources, no sync


def container_list(manifests: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return list(_by(manifests, "Deployment", name)["spec"]["template"]["spec"]["containers"])


SERVE_CONFIGS = [(label, m) for label, m in RENDERED if m["kind"] == "ConfigMap" and "serve.yaml" in m["data"]]


@pytest.mark.parametrize(("label", "config_map"), SERVE_CONFIGS, ids=[label for label, _ in SERVE_CONFIGS])
def test_rendered_registry_configs_are_valid_serve_configs(label: str, config_map: dict[str, Any]) -> None:
    """The contract with ``hivekeeper serve --config``: its own model accepts what the operator writes."""
    from hivekeeper.server import ServerConfig

    config = ServerConfig.model_validate(yaml.safe_load(config_map["data"]["serve.yaml"]))
    assert config.registry.database_url is None  # never a secret in a ConfigMap


# -- the CLI


def _cli(*args: str) -> Result:
    """In-process, as `hivekeeper kube ...` (exit codes of HivekeeperError are checked end to end below)."""
    return CliRunner().invoke(app, ["kube", *args])


def test_cli_render_prints_yaml_and_json(tmp_path: Path) -> None:
    source = tmp_path / "server.yaml"
    source.write_text(yaml.safe_dump(with_command(seed())))
    result = _cli("render", str(source))
    assert result.exit_code == 0, result.output
    documents = list(yaml.safe_load_all(result.stdout))
    assert documents == render(with_command(seed()))
    assert "&id" not in result.stdout  # no YAML anchors
    as_json = _cli("render", "--json", "--image", "hk:dev", str(source))
    assert as_json.exit_code == 0
    rendered = json.loads(as_json.stdout)
    assert rendered == render(with_command(seed()), options=RenderOptions(hivekeeper_image="hk:dev"))


def test_cli_render_gateway_selects_servers_from_the_same_file() -> None:
    result = _cli("render", "--json", str(FIXTURES / "gateway-registry.yaml"))
    assert result.exit_code == 0, result.output
    manifests = json.loads(result.stdout)
    config = yaml.safe_load(_by(manifests, "ConfigMap", "main-gateway")["data"]["gateway.yaml"])
    assert [backend["name"] for backend in config["backends"]] == ["git", "time"]  # "other" has no label


def test_cli_render_rejects_an_invalid_resource_with_exit_2(tmp_path: Path) -> None:
    source = tmp_path / "bad.yaml"
    bad = with_command(seed())
    bad["spec"]["networkPolicy"]["allowedEndpoints"].append("slack.com")
    source.write_text(yaml.safe_dump(bad) + "---\n" + yaml.safe_dump(with_command(seed())))
    result = subprocess.run(
        [sys.executable, "-m", "hivekeeper", "kube", "render", str(source)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 2
    assert result.stdout == ""  # nothing half-printed, not even the valid second resource
    assert "MCPServer slack-mcp: spec.networkPolicy.allowedEndpoints.2: 'slack.com': expected host:port" in " ".join(
        result.stderr.split()
    )
    for args, message in (
        (["render", str(tmp_path / "nope.yaml")], "no such file"),
        (["render", str(FIXTURES)], "cannot read"),
    ):
        with pytest.raises(ConfigError, match=message):
            CliRunner().invoke(app, ["kube", *args], catch_exceptions=False)
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: MCPServer\n---\nspec: [\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: not valid YAML at line 4"):
        CliRunner().invoke(app, ["kube", "render", str(broken)], catch_exceptions=False)
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n")
    with pytest.raises(ConfigError, match="no resources"):
        CliRunner().invoke(app, ["kube", "render", str(empty)], catch_exceptions=False)


def test_cli_crds_prints_all_three() -> None:
    result = _cli("crds")
    assert result.exit_code == 0
    names = [doc["metadata"]["name"] for doc in yaml.safe_load_all(result.stdout)]
    assert names == ["mcpservers.hivekeeper.dev", "mcpgateways.hivekeeper.dev", "mcpregistries.hivekeeper.dev"]

"""Reconciliation as a pure function: a custom resource in, the Kubernetes manifests it stands for out.

Nothing here talks to an API server, so ``hivekeeper kube render`` prints exactly what the operator
applies, and the tests validate every manifest without a cluster.

The pod of an ``MCPServer`` (see docs/kubernetes.md for the picture):

* ``mcp`` — the server's image, hardened to the restricted Pod Security Standard. A stdio server's
  command is wrapped by ``/bin/sh`` so that its stdin/stdout are two FIFOs in a shared in-memory
  ``emptyDir``; nothing of hivekeeper runs in the server's image and the server keeps its own user.
* ``proxy`` — the hivekeeper image running the gateway with one backend: tool allowlist, Cedar
  authorization, audit and telemetry, serving Streamable HTTP on ``spec.port``. For stdio servers its
  backend command is ``hivekeeper kube stdio-pipe``, which bridges the FIFOs to its own stdio.
* Egress: the pod's NetworkPolicy denies all egress except to a per-server egress proxy Deployment
  (hostname-aware, enforcing ``allowedEndpoints``), whose own NetworkPolicy allows kube-dns and the
  allowed ports. The MCP pod gets no DNS at all: it finds the proxy through the Service environment
  variables Kubernetes injects, so a compromised server cannot tunnel data out through DNS either.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ValidationError

from hivekeeper import __version__
from hivekeeper.errors import ConfigError
from hivekeeper.operator import resources as r
from hivekeeper.runtime.egress import parse_allow

Manifest = dict[str, Any]

PROXY_CONTAINER = "proxy"
SERVER_CONTAINER = "mcp"
EGRESS_PORT = 3128
STDIO_DIR = "/run/hivekeeper/stdio"
CONFIG_DIR = "/etc/hivekeeper"
AUTHZ_DIR = "/etc/hivekeeper/authz"
UID = 65532  # the conventional "nonroot" user of distroless images
MANAGED_BY = "hivekeeper-operator"
CONFIG_HASH = f"{r.GROUP}/config-hash"
_NAME_RE = re.compile(r.NAME_PATTERN)

_DEFAULT_LIMITS = {"cpu": "500m", "memory": "256Mi"}
_PROXY_RESOURCES = {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "50m", "memory": "64Mi"}}
_EGRESS_RESOURCES = {"limits": {"cpu": "250m", "memory": "128Mi"}, "requests": {"cpu": "20m", "memory": "32Mi"}}
_REGISTRY_RESOURCES = {"limits": {"cpu": "1", "memory": "512Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}}
# Cloud metadata services live here; no allowedEndpoint wildcard should reach them.
_METADATA_RANGE = "169.254.0.0/16"

_PATTERN_HINTS = {
    r.ENDPOINT: "expected host:port, host may start with '*.', port may be '*'",
    r.QUANTITY: "expected a Kubernetes quantity such as 500m, 1, 256Mi",
    r.DNS_SUBDOMAIN: "expected a lowercase DNS name (a-z, 0-9, '-', '.')",
    r.DNS_LABEL: "expected a lowercase DNS label (a-z, 0-9, '-')",
    r.ENV_NAME: "expected an environment variable name (letters, digits, '_')",
    r.TOOL_NAME: "expected an MCP tool name (letters, digits, '_', '-', '.', '/', at most 128)",
    r.IMAGE: "expected a container image reference",
    r.DURATION: "expected a duration such as 30s, 5m, 1h",
}


@dataclass(frozen=True)
class RenderOptions:
    """What the operator's own deployment decides, not the resource."""

    hivekeeper_image: str = f"hivekeeper:{__version__}"
    image_pull_policy: str = "IfNotPresent"


@dataclass(frozen=True)
class Parsed:
    """A validated custom resource."""

    kind: r.Kind
    name: str
    namespace: str | None
    metadata: Mapping[str, Any]
    spec: Any  # the kind's spec model


def parse(resource: Mapping[str, Any]) -> Parsed:
    """Validate a custom resource; a ``ConfigError`` names the offending field (``spec.port: ...``)."""
    if not isinstance(resource, Mapping):
        raise ConfigError("resource: expected a mapping with apiVersion, kind, metadata and spec")
    if resource.get("apiVersion") != r.API_VERSION:
        raise ConfigError(f"apiVersion: expected {r.API_VERSION}, got {resource.get('apiVersion')!r}")
    kind_name = resource.get("kind")
    kind = r.KINDS.get(str(kind_name))
    if kind is None:
        raise ConfigError(f"kind: expected one of {', '.join(r.KINDS)}, got {kind_name!r}")
    metadata = resource.get("metadata")
    if not isinstance(metadata, Mapping):
        raise ConfigError("metadata: required")
    name = metadata.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name) or len(name) > r.MAX_NAME:
        raise ConfigError(
            f"metadata.name: {name!r} must be a lowercase DNS label starting with a letter, "
            f"at most {r.MAX_NAME} characters"
        )
    namespace = metadata.get("namespace")
    if namespace is not None and (not isinstance(namespace, str) or not re.match(r.DNS_LABEL, namespace)):
        raise ConfigError(f"metadata.namespace: {namespace!r} is not a DNS label")
    spec_data = resource.get("spec")
    if spec_data is None:
        raise ConfigError("spec: required")
    return Parsed(kind, name, namespace, metadata, _validate(kind.spec, spec_data))


def _validate(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("\n".join(_describe(item) for item in exc.errors())) from exc


def _describe(item: Any) -> str:
    location = ".".join(["spec", *(str(part) for part in item["loc"])])
    pattern = (item.get("ctx") or {}).get("pattern")
    if item["type"] == "string_pattern_mismatch" and pattern in _PATTERN_HINTS:
        return f"{location}: {item['input']!r}: {_PATTERN_HINTS[pattern]}"
    message = str(item["msg"]).removeprefix("Value error, ")
    return f"{location}: {message}"


def render(
    resource: Mapping[str, Any],
    *,
    servers: Sequence[Mapping[str, Any]] = (),
    options: RenderOptions = RenderOptions(),
) -> list[Manifest]:
    """The manifests for one custom resource. ``servers`` are the MCPServers an MCPGateway selects."""
    parsed = parse(resource)
    if parsed.kind is r.SERVER:
        return render_server(parsed, options)
    if parsed.kind is r.GATEWAY:
        return render_gateway(parsed, [parse(server) for server in servers], options)
    return render_registry(parsed, options)


# ---------------------------------------------------------------------------------------------- shared


def _labels(parsed: Parsed, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": parsed.kind.singular,
        "app.kubernetes.io/instance": parsed.name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        f"{r.GROUP}/{parsed.kind.singular}": parsed.name,
    }


def selector_labels(parsed: Parsed, component: str) -> dict[str, str]:
    return {f"{r.GROUP}/{parsed.kind.singular}": parsed.name, "app.kubernetes.io/component": component}


def _meta(parsed: Parsed, name: str, component: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": _labels(parsed, component)}
    if parsed.namespace:
        meta["namespace"] = parsed.namespace
    uid = parsed.metadata.get("uid")
    if uid:  # rendered from a live object: children are garbage-collected with it
        meta["ownerReferences"] = [
            {
                "apiVersion": r.API_VERSION,
                "kind": parsed.kind.kind,
                "name": parsed.name,
                "uid": uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    return meta


def service_host(parsed: Parsed, service: str) -> str:
    return f"{service}.{parsed.namespace}.svc" if parsed.namespace else service


def _restricted_container() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _restricted_pod() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "fsGroup": UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _resources(spec: r.Resources, default_limits: Mapping[str, str] | None) -> dict[str, Any]:
    limits = spec.limits.model_dump(exclude_none=True) or dict(default_limits or {})
    requests = spec.requests.model_dump(exclude_none=True)
    result: dict[str, Any] = {}
    if limits:
        result["limits"] = limits
    if requests:
        result["requests"] = requests
    return result


def _config_map(parsed: Parsed, name: str, component: str, files: Mapping[str, Any]) -> Manifest:
    data = {filename: yaml.safe_dump(content, sort_keys=False) for filename, content in files.items()}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(parsed, name, component), "data": data}


def _config_hash(config_map: Manifest) -> str:
    # Pods read their config once: a changed hash in the pod template rolls the Deployment.
    return hashlib.sha256(json.dumps(config_map["data"], sort_keys=True).encode()).hexdigest()[:16]


def _deployment(
    parsed: Parsed,
    name: str,
    component: str,
    replicas: int,
    pod_spec: dict[str, Any],
    annotations: Mapping[str, str] | None = None,
) -> Manifest:
    template_meta: dict[str, Any] = {"labels": _labels(parsed, component)}
    if annotations:
        template_meta["annotations"] = dict(annotations)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(parsed, name, component),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector_labels(parsed, component)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": template_meta,
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": _restricted_pod(),
                    **pod_spec,
                },
            },
        },
    }


def _service(parsed: Parsed, name: str, component: str, port: int, target: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(parsed, name, component),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(parsed, component),
            "ports": [{"name": target, "port": port, "targetPort": target, "protocol": "TCP", "appProtocol": "http"}],
        },
    }


def _tmp_volume() -> tuple[dict[str, Any], dict[str, Any]]:
    """(volume, mount): read-only root filesystems still need a scratch /tmp for most runtimes."""
    return {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}, {"name": "tmp", "mountPath": "/tmp"}


def _gateway_command(port: int) -> list[str]:
    """The pod's governed MCP endpoint: ``hivekeeper gateway`` on the rendered config, on all interfaces."""
    return ["hivekeeper", "gateway", "--config", f"{CONFIG_DIR}/gateway.yaml", "--host", "0.0.0.0", "--port", str(port)]


def _hivekeeper_container(
    name: str,
    command: list[str],
    port: int,
    port_name: str,
    options: RenderOptions,
    resources: Mapping[str, Any],
    mounts: list[dict[str, Any]],
    env: list[dict[str, Any]] | None = None,
    health_path: str | None = None,
) -> dict[str, Any]:
    # The gateway's /healthz turns 200 once its backend answered: traffic waits for a working server.
    ready: dict[str, Any] = (
        {"httpGet": {"path": health_path, "port": port_name}} if health_path else {"tcpSocket": {"port": port_name}}
    )
    container: dict[str, Any] = {
        "name": name,
        "image": options.hivekeeper_image,
        "imagePullPolicy": options.image_pull_policy,
        "command": command,
        "ports": [{"name": port_name, "containerPort": port, "protocol": "TCP"}],
        "readinessProbe": {**ready, "periodSeconds": 5},
        "livenessProbe": {"tcpSocket": {"port": port_name}, "periodSeconds": 20, "failureThreshold": 3},
        "resources": dict(resources),
        "securityContext": _restricted_container(),
        "volumeMounts": mounts,
    }
    if env:
        container["env"] = env
    return container


def _policy_filters(policies: Sequence[r.ToolPolicy]) -> dict[str, list[str]]:
    tools: dict[str, list[str]] = {}
    for policy in policies:
        if policy.type == "tool-allowlist" and policy.config.allowed_tools is not None:
            tools["allow"] = list(policy.config.allowed_tools)
        elif policy.type == "tool-denylist" and policy.config.denied_tools is not None:
            tools["deny"] = list(policy.config.denied_tools)
    return tools


def _gateway_common(
    parsed: Parsed, audit: r.Audit, telemetry: r.Telemetry, authz: r.ConfigMapKeyRef | None
) -> dict[str, Any]:
    """The parts of ``hivekeeper gateway``'s config (hivekeeper.gateway.config) every pod shares."""
    config: dict[str, Any] = {
        "name": parsed.name,
        "audit": {"stdout": audit.enabled, "arguments": audit.include_arguments},
        "telemetry": {"service_name": telemetry.service_name or parsed.name, "metrics": telemetry.metrics},
        # Pins live as long as the pod: a definition changing under a running pod is still caught.
        "integrity": {"directory": "/tmp/hivekeeper/integrity"},
        # Reached through a Service by in-cluster clients: no loopback-only Host check.
        "front": {"loopback_only": False},
    }
    if telemetry.otlp_endpoint:
        config["telemetry"]["otlp_endpoint"] = telemetry.otlp_endpoint
        config["telemetry"]["otlp_protocol"] = telemetry.otlp_protocol
    if authz is not None:
        config["authorization"] = {"policy_file": f"{AUTHZ_DIR}/policies.cedar"}
    return config


def _authz_volume(ref: r.ConfigMapKeyRef | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(pod volumes, proxy mounts) for an optional Cedar policy ConfigMap."""
    if ref is None:
        return [], []
    volume = {"name": "authz", "configMap": {"name": ref.name, "items": [{"key": ref.key, "path": "policies.cedar"}]}}
    return [volume], [{"name": "authz", "mountPath": AUTHZ_DIR, "readOnly": True}]


# ------------------------------------------------------------------------------------------ MCPServer


def egress_endpoints(spec: r.MCPServerSpec) -> list[str]:
    """What the egress proxy must allow: the declared endpoints plus the OTLP collector, if any."""
    endpoints = list(spec.network_policy.allowed_endpoints)
    if spec.telemetry.otlp_endpoint:
        url = urlsplit(spec.telemetry.otlp_endpoint)
        try:
            port = url.port or (443 if url.scheme == "https" else 80)
        except ValueError:
            raise ConfigError(
                f"spec.telemetry.otlpEndpoint: {spec.telemetry.otlp_endpoint!r} has an invalid port"
            ) from None
        host = f"[{url.hostname}]" if ":" in (url.hostname or "") else url.hostname  # IPv6 literal
        endpoint = f"{host}:{port}"
        if endpoint not in endpoints:
            endpoints.append(endpoint)
    return endpoints


def proxy_config(parsed: Parsed) -> dict[str, Any]:
    """The in-pod gateway's configuration: one backend plus the policy chain."""
    spec: r.MCPServerSpec = parsed.spec
    backend: dict[str, Any] = {"name": parsed.name}
    if spec.transport == "stdio":
        backend["command"] = ["hivekeeper", "kube", "stdio-pipe", STDIO_DIR]
    else:
        backend["url"] = f"http://127.0.0.1:{spec.target_port}{spec.path}"
    tools = _policy_filters(spec.policies)
    if tools:
        backend["tools"] = tools
    return {
        **_gateway_common(parsed, spec.audit, spec.telemetry, spec.authz_policy_ref),
        "backends": [backend],
        "conflict": "priority",  # one backend: its tools keep their own names, unprefixed
        "auth": {"anonymous": True},  # callers are authenticated by the MCPGateway in front, if any
    }


def _service_env_prefix(service: str) -> str:
    # Kubernetes' own rule for the {SVC}_SERVICE_HOST variables it injects into pods.
    return service.upper().replace("-", "_")


def _egress_env(egress_service: str) -> list[dict[str, Any]]:
    prefix = _service_env_prefix(egress_service)
    url = f"http://$({prefix}_SERVICE_HOST):$({prefix}_SERVICE_PORT)"
    names = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
    env = [{"name": name, "value": url} for name in names]
    local = "127.0.0.1,localhost"
    return [*env, {"name": "NO_PROXY", "value": local}, {"name": "no_proxy", "value": local}]


def _server_container(parsed: Parsed, egress_env: list[dict[str, Any]]) -> dict[str, Any]:
    spec: r.MCPServerSpec = parsed.spec
    env: list[dict[str, Any]] = [{"name": "HOME", "value": "/tmp"}, *egress_env]
    env += [{"name": var.name, "value": var.value} for var in spec.env]
    env += [
        {"name": ref.env, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key or ref.env}}}
        for ref in spec.secret_refs
    ]
    mounts = [_tmp_volume()[1]] + [
        {"name": f"user-{volume.name}", "mountPath": volume.mount_path, "readOnly": volume.read_only}
        for volume in spec.volumes
    ]
    container: dict[str, Any] = {
        "name": SERVER_CONTAINER,
        "image": spec.image,
        "imagePullPolicy": spec.image_pull_policy,
        "env": env,
        "resources": _resources(spec.resources, _DEFAULT_LIMITS),
        "securityContext": _restricted_container(),
        "volumeMounts": mounts,
    }
    if spec.transport == "stdio":
        if spec.command is None:
            raise ConfigError(
                "spec.command: required for transport stdio (the pod connects the command's stdio to "
                "the proxy; Kubernetes cannot read an image's entrypoint)"
            )
        # $0 is the FIFO directory, "$@" the server's command line, so nothing needs quoting.
        container["command"] = ["/bin/sh", "-c", 'exec "$@" <"$0/in" >"$0/out"', STDIO_DIR, *spec.command]
        container["args"] = list(spec.args)
        mounts.append({"name": "stdio", "mountPath": STDIO_DIR})
    else:
        if spec.command is not None:
            container["command"] = list(spec.command)
        if spec.args:
            container["args"] = list(spec.args)
        container["ports"] = [{"name": "server", "containerPort": spec.target_port, "protocol": "TCP"}]
    return container


def _user_volume(volume: r.Volume) -> dict[str, Any]:
    name = f"user-{volume.name}"
    if volume.config_map is not None:
        return {"name": name, "configMap": {"name": volume.config_map}}
    if volume.secret is not None:
        return {"name": name, "secret": {"secretName": volume.secret}}
    if volume.persistent_volume_claim is not None:
        return {
            "name": name,
            "persistentVolumeClaim": {"claimName": volume.persistent_volume_claim, "readOnly": volume.read_only},
        }
    assert volume.empty_dir is not None  # the model guarantees exactly one source
    return {"name": name, "emptyDir": volume.empty_dir.model_dump(by_alias=True, exclude_none=True)}


def _apply_override(pod_meta: dict[str, Any], pod_spec: dict[str, Any], override: r.PodTemplateOverride) -> None:
    # Our own labels win: they carry the Deployment's selector.
    pod_meta["labels"] = {**override.labels, **pod_meta["labels"]}
    if override.annotations:
        pod_meta["annotations"] = {**override.annotations, **pod_meta.get("annotations", {})}
    if override.node_selector:
        pod_spec["nodeSelector"] = dict(override.node_selector)
    if override.priority_class_name:
        pod_spec["priorityClassName"] = override.priority_class_name
    if override.runtime_class_name:
        pod_spec["runtimeClassName"] = override.runtime_class_name
    if override.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": name} for name in override.image_pull_secrets]
    if override.tolerations:
        pod_spec["tolerations"] = list(override.tolerations)
    if override.affinity:
        pod_spec["affinity"] = dict(override.affinity)


def render_server(parsed: Parsed, options: RenderOptions = RenderOptions()) -> list[Manifest]:
    spec: r.MCPServerSpec = parsed.spec
    endpoints = egress_endpoints(spec)
    open_egress = spec.permission_profile == "network"
    egress_service = f"{parsed.name}-egress"
    uses_egress_proxy = bool(endpoints) and not open_egress
    egress_env = _egress_env(egress_service) if uses_egress_proxy else []

    config_map = _config_map(parsed, f"{parsed.name}-proxy", "mcp-server", {"gateway.yaml": proxy_config(parsed)})
    authz_volumes, authz_mounts = _authz_volume(spec.authz_policy_ref)
    tmp_volume, tmp_mount = _tmp_volume()
    proxy_mounts = [tmp_mount, {"name": "proxy-config", "mountPath": CONFIG_DIR, "readOnly": True}, *authz_mounts]
    volumes: list[dict[str, Any]] = [
        tmp_volume,
        {"name": "proxy-config", "configMap": {"name": config_map["metadata"]["name"]}},
        *authz_volumes,
        *(_user_volume(volume) for volume in spec.volumes),
    ]
    init_containers: list[dict[str, Any]] = []
    if spec.transport == "stdio":
        volumes.append({"name": "stdio", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}})
        proxy_mounts.append({"name": "stdio", "mountPath": STDIO_DIR})
        prepare = _hivekeeper_container(
            "stdio-init",
            ["hivekeeper", "kube", "stdio-pipe", "--init", STDIO_DIR],
            spec.port,
            "mcp",
            options,
            _EGRESS_RESOURCES,
            [{"name": "stdio", "mountPath": STDIO_DIR}],
        )
        for probe in ("readinessProbe", "livenessProbe", "ports"):
            del prepare[probe]
        init_containers.append(prepare)

    proxy = _hivekeeper_container(
        PROXY_CONTAINER,
        _gateway_command(spec.port),
        spec.port,
        "mcp",
        options,
        _PROXY_RESOURCES,
        proxy_mounts,
        # The proxy's own egress (OTLP export) takes the same way out as the server's.
        env=[{"name": "HOME", "value": "/tmp"}, *(_egress_env(egress_service) if uses_egress_proxy else [])],
        health_path="/healthz",
    )
    pod_spec: dict[str, Any] = {
        "enableServiceLinks": True,  # the egress proxy's address arrives through service links
        "containers": [_server_container(parsed, egress_env), proxy],
        "volumes": volumes,
    }
    if init_containers:
        pod_spec["initContainers"] = init_containers
    deployment = _deployment(
        parsed,
        parsed.name,
        "mcp-server",
        spec.replicas,
        pod_spec,
        annotations={CONFIG_HASH: _config_hash(config_map)},
    )
    template = deployment["spec"]["template"]
    _apply_override(template["metadata"], template["spec"], spec.pod_template)

    manifests = [config_map]
    if uses_egress_proxy:
        manifests += _egress_proxy(parsed, endpoints, options)
    manifests += [
        deployment,
        _service(parsed, parsed.name, "mcp-server", spec.port, "mcp"),
        _server_network_policy(parsed, spec, uses_egress_proxy, open_egress),
    ]
    return manifests


def _server_network_policy(parsed: Parsed, spec: r.MCPServerSpec, via_proxy: bool, open_egress: bool) -> Manifest:
    if open_egress:
        egress: list[dict[str, Any]] = [{}]  # profile "network": everything, loudly flagged in status
    elif via_proxy:
        egress = [
            {
                "to": [{"podSelector": {"matchLabels": selector_labels(parsed, "egress-proxy")}}],
                "ports": [{"protocol": "TCP", "port": EGRESS_PORT}],
            }
        ]
    else:
        egress = []
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(parsed, parsed.name, "mcp-server"),
        "spec": {
            "podSelector": {"matchLabels": selector_labels(parsed, "mcp-server")},
            "policyTypes": ["Ingress", "Egress"],
            # Only the proxy's port is reachable; a streamable-http server's own port stays pod-local.
            "ingress": [{"ports": [{"protocol": "TCP", "port": spec.port}]}],
            "egress": egress,
        },
    }


def _split_endpoint(endpoint: str) -> tuple[str, int | None]:
    host, _, port = endpoint.rpartition(":")
    return host, None if port == "*" else int(port)


def _egress_proxy(parsed: Parsed, endpoints: Sequence[str], options: RenderOptions) -> list[Manifest]:
    name = f"{parsed.name}-egress"
    command = ["hivekeeper", "egress-proxy", "--listen", f"0.0.0.0:{EGRESS_PORT}"]
    for endpoint in endpoints:
        host, port = _split_endpoint(endpoint)
        allow = host if port is None else f"{host}:{port}"
        try:  # the egress proxy's own parser: what it would refuse at start, refuse here
            parse_allow(allow)
        except ConfigError as exc:
            raise ConfigError(f"spec.networkPolicy.allowedEndpoints: {exc.message}") from None
        command += ["--allow", allow]
    tmp_volume, tmp_mount = _tmp_volume()
    container = _hivekeeper_container(
        "egress-proxy",
        command,
        EGRESS_PORT,
        "proxy",
        options,
        _EGRESS_RESOURCES,
        [tmp_mount],
        env=[{"name": "HOME", "value": "/tmp"}],
    )
    deployment = _deployment(
        parsed,
        name,
        "egress-proxy",
        1,
        {"enableServiceLinks": False, "containers": [container], "volumes": [tmp_volume]},
    )
    return [
        deployment,
        _service(parsed, name, "egress-proxy", EGRESS_PORT, "proxy"),
        _egress_network_policy(parsed, name, endpoints),
    ]


def _egress_network_policy(parsed: Parsed, name: str, endpoints: Sequence[str]) -> Manifest:
    dns = {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }
    rules: list[dict[str, Any]] = [dns]
    # Hostnames are matched by the proxy; the NetworkPolicy narrows what it may reach by port (and by
    # address for IP literals), so even a compromised egress proxy stays within the declared ports.
    hostname_ports: set[int | None] = set()
    for endpoint in endpoints:
        host, port = _split_endpoint(endpoint)
        ports = [] if port is None else [{"protocol": "TCP", "port": port}]
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            hostname_ports.add(port)
            continue
        rules.append(
            {"to": [{"ipBlock": {"cidr": f"{address}/{address.max_prefixlen}"}}], **({"ports": ports} if ports else {})}
        )
    if hostname_ports:
        anywhere = {"ipBlock": {"cidr": "0.0.0.0/0", "except": [_METADATA_RANGE]}}
        if None in hostname_ports:
            rules.append({"to": [anywhere]})
        else:
            ports = [{"protocol": "TCP", "port": port} for port in sorted(p for p in hostname_ports if p)]
            rules.append({"to": [anywhere], "ports": ports})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(parsed, name, "egress-proxy"),
        "spec": {
            "podSelector": {"matchLabels": selector_labels(parsed, "egress-proxy")},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": [{"podSelector": {"matchLabels": selector_labels(parsed, "mcp-server")}}],
                    "ports": [{"protocol": "TCP", "port": EGRESS_PORT}],
                }
            ],
            "egress": rules,
        },
    }


def server_url(parsed: Parsed) -> str:
    spec: r.MCPServerSpec = parsed.spec
    return f"http://{service_host(parsed, parsed.name)}:{spec.port}{spec.path}"


# ----------------------------------------------------------------------------------------- MCPGateway


def gateway_config(parsed: Parsed, servers: Sequence[Parsed]) -> dict[str, Any]:
    spec: r.MCPGatewaySpec = parsed.spec
    # The gateway's filters are per backend; an MCPGateway's policies apply to every backend alike.
    tools = _policy_filters(spec.policies)
    backends = []
    for server in sorted(servers, key=lambda s: s.name):
        backend: dict[str, Any] = {"name": server.name, "url": server_url(server)}
        if tools:
            backend["tools"] = tools
        backends.append(backend)
    config: dict[str, Any] = {
        **_gateway_common(parsed, spec.audit, spec.telemetry, spec.authz_policy_ref),
        "backends": backends,
        "conflict": spec.conflict_resolution,
    }
    if spec.auth.type == "oidc" and spec.auth.oidc is not None:
        oidc = spec.auth.oidc
        config["auth"] = {"oidc": {"issuer": oidc.issuer, "jwks_url": oidc.jwks_url, "audience": [oidc.audience]}}
    else:
        config["auth"] = {"anonymous": True}
    if spec.tool_search.enabled:
        config["search"] = {
            "mode": "meta",
            "k": spec.tool_search.max_tools,
            "pinned": list(spec.tool_search.always_include),
        }
    return config


def render_gateway(
    parsed: Parsed, servers: Sequence[Parsed], options: RenderOptions = RenderOptions()
) -> list[Manifest]:
    spec: r.MCPGatewaySpec = parsed.spec
    image_options = RenderOptions(spec.image or options.hivekeeper_image, options.image_pull_policy)
    files = {"gateway.yaml": gateway_config(parsed, servers)}
    config_map = _config_map(parsed, f"{parsed.name}-gateway", "gateway", files)
    authz_volumes, authz_mounts = _authz_volume(spec.authz_policy_ref)
    tmp_volume, tmp_mount = _tmp_volume()
    container = _hivekeeper_container(
        "gateway",
        _gateway_command(spec.port),
        spec.port,
        "mcp",
        image_options,
        _resources(spec.resources, None) or _PROXY_RESOURCES,
        [tmp_mount, {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}, *authz_mounts],
        env=[{"name": "HOME", "value": "/tmp"}],
        health_path="/healthz",
    )
    pod_spec = {
        "containers": [container],
        "volumes": [
            tmp_volume,
            {"name": "config", "configMap": {"name": config_map["metadata"]["name"]}},
            *authz_volumes,
        ],
    }
    # A gateway with nothing to serve waits at zero replicas (its status says NoBackends).
    replicas = spec.replicas if servers else 0
    deployment = _deployment(
        parsed, parsed.name, "gateway", replicas, pod_spec, annotations={CONFIG_HASH: _config_hash(config_map)}
    )
    return [config_map, deployment, _service(parsed, parsed.name, "gateway", spec.port, "mcp")]


def gateway_url(parsed: Parsed) -> str:
    return f"http://{service_host(parsed, parsed.name)}:{parsed.spec.port}/mcp"


# ---------------------------------------------------------------------------------------- MCPRegistry


REGISTRY_HOME = "/var/lib/hivekeeper"  # HIVEKEEPER_HOME: the SQLite database lives under it


def registry_config(parsed: Parsed) -> dict[str, Any]:
    """The ``hivekeeper serve`` config (hivekeeper.server.ServerConfig) of a registry deployment."""
    spec: r.MCPRegistrySpec = parsed.spec
    sources = []
    for source in spec.sources:
        location = source.url if source.type == "registry" else f"{CONFIG_DIR}/sources/{source.name}.json"
        kind = "registry" if source.type == "registry" else "file"
        sources.append({"name": source.name, "kind": kind, "location": location, "tier": source.tier})
    # The PostgreSQL URL is a secret, so it is not written here: it reaches the pod as an env variable.
    return {"registry": {"sources": sources, "starter_catalogue": spec.starter_catalogue}}


def _seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return sum(int(number) * units[unit] for number, unit in re.findall(r"([0-9]+)([smh])", duration))


def render_registry(parsed: Parsed, options: RenderOptions = RenderOptions()) -> list[Manifest]:
    spec: r.MCPRegistrySpec = parsed.spec
    image_options = RenderOptions(spec.image or options.hivekeeper_image, options.image_pull_policy)
    config_map = _config_map(parsed, f"{parsed.name}-registry", "registry", {"serve.yaml": registry_config(parsed)})
    config_file = f"{CONFIG_DIR}/serve.yaml"
    tmp_volume, tmp_mount = _tmp_volume()
    mounts = [
        tmp_mount,
        {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
        {"name": "data", "mountPath": REGISTRY_HOME},
    ]
    volumes: list[dict[str, Any]] = [
        tmp_volume,
        {"name": "config", "configMap": {"name": config_map["metadata"]["name"]}},
    ]
    env: list[dict[str, Any]] = [{"name": "HOME", "value": "/tmp"}, {"name": "HIVEKEEPER_HOME", "value": REGISTRY_HOME}]
    manifests: list[Manifest] = [config_map]
    for source in spec.sources:
        if source.config_map is not None:
            volumes.append(
                {
                    "name": f"source-{source.name}",
                    "configMap": {
                        "name": source.config_map.name,
                        "items": [{"key": source.config_map.key, "path": f"{source.name}.json"}],
                    },
                }
            )
            mounts.append(
                {
                    "name": f"source-{source.name}",
                    "mountPath": f"{CONFIG_DIR}/sources/{source.name}.json",
                    "subPath": f"{source.name}.json",
                    "readOnly": True,
                }
            )
    if spec.storage.type == "sqlite":
        claim = f"{parsed.name}-data"
        pvc_spec: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": spec.storage.size}},
        }
        if spec.storage.storage_class_name:
            pvc_spec["storageClassName"] = spec.storage.storage_class_name
        manifests.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": _meta(parsed, claim, "registry"),
                "spec": pvc_spec,
            }
        )
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": claim}})
    else:
        ref = spec.storage.postgres_secret_ref
        assert ref is not None  # the model requires it for postgres
        volumes.append({"name": "data", "emptyDir": {"sizeLimit": "64Mi"}})
        env.append(
            {
                "name": "HIVEKEEPER_REGISTRY_DATABASE_URL",
                "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}},
            }
        )
    server = _hivekeeper_container(
        "registry",
        ["hivekeeper", "serve", "--config", config_file, "--host", "0.0.0.0", "--port", str(spec.port)],
        spec.port,
        "http",
        image_options,
        _resources(spec.resources, None) or _REGISTRY_RESOURCES,
        mounts,
        env=env,
        health_path="/healthz",
    )
    containers = [server]
    if spec.sources:
        # Sources are pulled by `hivekeeper registry sync` next to the server, sharing its database.
        sync = _hivekeeper_container(
            "sync",
            [
                "/bin/sh",
                "-c",
                'while :; do hivekeeper registry sync --config "$0"; sleep "$1"; done',
                config_file,
                str(_seconds(spec.sync_interval)),
            ],
            spec.port,
            "http",
            image_options,
            _EGRESS_RESOURCES,
            [dict(mount) for mount in mounts],
            env=[dict(item) for item in env],
        )
        for key in ("ports", "readinessProbe", "livenessProbe"):
            del sync[key]
        containers.append(sync)
    deployment = _deployment(
        parsed,
        parsed.name,
        "registry",
        spec.replicas,
        {"containers": containers, "volumes": volumes},
        annotations={CONFIG_HASH: _config_hash(config_map)},
    )
    if spec.storage.type == "sqlite":  # one writer: never two pods on the same database file
        deployment["spec"]["strategy"] = {"type": "Recreate"}
    manifests += [deployment, _service(parsed, parsed.name, "registry", spec.port, "http")]
    return manifests


def registry_url(parsed: Parsed) -> str:
    return f"http://{service_host(parsed, parsed.name)}:{parsed.spec.port}/v0.1/servers"


__all__ = [
    "Manifest",
    "Parsed",
    "RenderOptions",
    "egress_endpoints",
    "gateway_url",
    "parse",
    "proxy_config",
    "registry_url",
    "render",
    "render_gateway",
    "render_registry",
    "render_server",
    "selector_labels",
    "server_url",
]

"""The custom resources (``MCPServer``, ``MCPGateway``, ``MCPRegistry``) as pydantic models.

These models are the single source of truth: the operator and ``hivekeeper kube render`` validate
resources with them (field-named errors), and ``crds.py`` derives the CRDs' structural OpenAPI
schemas from them, so the API server rejects the same documents before they ever reach the operator.
Rules that JSON Schema cannot express are written twice on purpose: as a pydantic validator (for
the operator and the CLI) and as a CEL rule (``x-kubernetes-validations``, for the API server);
``tests/operator`` checks that both reject the same examples.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator
from pydantic.alias_generators import to_camel

GROUP = "hivekeeper.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

# Kubernetes' own shapes: DNS-1123 labels/subdomains, C identifiers for env names, quantities.
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
QUANTITY = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
IMAGE = r"^[a-zA-Z0-9][a-zA-Z0-9._/:@-]*$"
# MCP tool names: 1-128 characters of letters, digits, "_", "-", "." and "/".
TOOL_NAME = r"^[A-Za-z0-9_./-]{1,128}$"
# host:port, host may be "*.domain" or an IPv4 literal, port a number or "*".
ENDPOINT = (
    r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
    r":([1-9][0-9]{0,4}|\*)$"
)
ABSOLUTE_PATH = r"^/[^\x00]*$"
HTTP_URL = r"^https?://[^\s/$.?#][^\s]*$"
DURATION = r"^([0-9]+(s|m|h))+$"

# Resource names: children append at most "-egress", and Services need DNS-1035 labels (a letter first).
NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
MAX_NAME = 63 - len("-egress")


def _int_to_str(value: Any) -> Any:
    # Quantities are int-or-string in Kubernetes: `cpu: 1` and `cpu: "1"` mean the same.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Quantity = Annotated[
    str,
    BeforeValidator(_int_to_str),
    StringConstraints(pattern=QUANTITY),
    # The before-validator hides the constraint from pydantic's schema; state it for the CRD.
    Field(json_schema_extra={"x-kubernetes-int-or-string": True, "pattern": QUANTITY}),
]
DnsLabel = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL)]
DnsSubdomain = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)]
EnvName = Annotated[str, Field(min_length=1, max_length=128, pattern=ENV_NAME)]
ToolName = Annotated[str, Field(max_length=128, pattern=TOOL_NAME)]
Port = Annotated[int, Field(ge=1, le=65535)]


def _cel(*rules: tuple[str, str]) -> dict[str, Any]:
    return {"x-kubernetes-validations": [{"rule": rule, "message": message} for rule, message in rules]}


class Model(BaseModel):
    """Base of every spec part: camelCase field names as in Kubernetes, unknown fields rejected."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


class ResourceList(Model):
    cpu: Quantity | None = None
    memory: Quantity | None = None


class Resources(Model):
    limits: ResourceList = ResourceList()
    requests: ResourceList = ResourceList()


class EnvVar(Model):
    name: EnvName
    value: str = Field(default="", max_length=32768)


class SecretRef(Model):
    """A key of an existing Secret, exposed to the server as an environment variable."""

    name: DnsSubdomain = Field(description="Name of the Secret in the resource's namespace.")
    key: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="Key inside the Secret; defaults to the value of `env`.",
    )
    env: EnvName = Field(description="Environment variable the value is exposed as.")


class NetworkPolicy(Model):
    allowed_endpoints: list[Annotated[str, Field(max_length=260, pattern=ENDPOINT)]] = Field(
        default_factory=list,
        max_length=64,
        description="host:port destinations the server may reach through the egress proxy; "
        "`*.example.com` matches subdomains, port `*` any port.",
    )


class ToolPolicyConfig(Model):
    allowed_tools: list[ToolName] | None = Field(default=None, max_length=1024)
    denied_tools: list[ToolName] | None = Field(default=None, max_length=1024)


class ToolPolicy(Model):
    model_config = ConfigDict(
        json_schema_extra=_cel(
            (
                "self.type != 'tool-allowlist' || has(self.config.allowedTools)",
                "a tool-allowlist policy needs config.allowedTools",
            ),
            (
                "self.type != 'tool-denylist' || has(self.config.deniedTools)",
                "a tool-denylist policy needs config.deniedTools",
            ),
        )
    )

    type: Literal["tool-allowlist", "tool-denylist"]
    config: ToolPolicyConfig

    @model_validator(mode="after")
    def _config_matches_type(self) -> ToolPolicy:
        needed = "allowedTools" if self.type == "tool-allowlist" else "deniedTools"
        value = self.config.allowed_tools if self.type == "tool-allowlist" else self.config.denied_tools
        if value is None:
            raise ValueError(f"a {self.type} policy needs config.{needed}")
        return self


class EmptyDirSource(Model):
    size_limit: Quantity | None = None


class Volume(Model):
    """A volume mounted into the server container; exactly one source."""

    model_config = ConfigDict(
        json_schema_extra=_cel(
            (
                "[has(self.configMap), has(self.secret), has(self.persistentVolumeClaim), has(self.emptyDir)]"
                ".filter(x, x).size() == 1",
                "exactly one of configMap, secret, persistentVolumeClaim, emptyDir",
            )
        )
    )

    name: DnsLabel
    mount_path: str = Field(pattern=ABSOLUTE_PATH, max_length=1024)
    read_only: bool = True
    config_map: DnsSubdomain | None = None
    secret: DnsSubdomain | None = None
    persistent_volume_claim: DnsSubdomain | None = None
    empty_dir: EmptyDirSource | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Volume:
        sources = [self.config_map, self.secret, self.persistent_volume_claim, self.empty_dir]
        if sum(source is not None for source in sources) != 1:
            raise ValueError("exactly one of configMap, secret, persistentVolumeClaim, emptyDir")
        return self


class ConfigMapKeyRef(Model):
    name: DnsSubdomain
    key: str = Field(default="policies.cedar", min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")


class Telemetry(Model):
    otlp_endpoint: str | None = Field(
        default=None,
        pattern=HTTP_URL,
        max_length=2048,
        description="OTLP collector URL: port 4318 for http/protobuf, 4317 for grpc.",
    )
    otlp_protocol: Literal["http/protobuf", "grpc"] = "http/protobuf"
    service_name: str | None = Field(default=None, min_length=1, max_length=253)
    metrics: bool = True


class Audit(Model):
    enabled: bool = True
    include_arguments: bool = False


class PodTemplateOverride(Model):
    """Scheduling and metadata knobs merged into the rendered pod. The security context is not
    among them on purpose: an override cannot weaken the pod below the restricted standard."""

    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    node_selector: dict[str, str] = Field(default_factory=dict)
    priority_class_name: DnsSubdomain | None = None
    runtime_class_name: DnsSubdomain | None = None
    image_pull_secrets: list[DnsSubdomain] = Field(default_factory=list)
    tolerations: list[dict[str, Any]] = Field(
        default_factory=list, json_schema_extra={"items": {"x-kubernetes-preserve-unknown-fields": True}}
    )
    affinity: dict[str, Any] | None = Field(
        default=None, json_schema_extra={"x-kubernetes-preserve-unknown-fields": True}
    )


class MCPServerSpec(Model):
    model_config = ConfigDict(
        json_schema_extra=_cel(
            (
                "self.transport != 'streamable-http' || self.targetPort != self.port",
                "targetPort must differ from port (the proxy listens on port)",
            ),
            (
                "self.permissionProfile != 'network' || !has(self.networkPolicy)"
                " || !has(self.networkPolicy.allowedEndpoints)"
                " || size(self.networkPolicy.allowedEndpoints) == 0",
                "permissionProfile network already allows all egress; remove networkPolicy.allowedEndpoints",
            ),
        )
    )

    image: str = Field(min_length=1, max_length=512, pattern=IMAGE)
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    transport: Literal["stdio", "streamable-http"] = "stdio"
    port: Port = Field(default=8080, description="Port the policy proxy serves MCP on (the Service port).")
    target_port: Port = Field(default=3000, description="Port a streamable-http server listens on inside the pod.")
    path: str = Field(default="/mcp", pattern=r"^/[^\s]*$", max_length=256)
    command: list[str] | None = Field(default=None, max_length=64, description="Overrides the image entrypoint.")
    args: list[str] = Field(default_factory=list, max_length=256)
    env: list[EnvVar] = Field(default_factory=list, max_length=256)
    resources: Resources = Resources()
    network_policy: NetworkPolicy = NetworkPolicy()
    secret_refs: list[SecretRef] = Field(default_factory=list, max_length=64)
    policies: list[ToolPolicy] = Field(default_factory=list, max_length=2)
    volumes: list[Volume] = Field(default_factory=list, max_length=32)
    replicas: int = Field(default=1, ge=0, le=50)
    permission_profile: Literal["none", "network"] = Field(
        default="none", description="none: egress only to networkPolicy.allowedEndpoints; network: open egress."
    )
    authz_policy_ref: ConfigMapKeyRef | None = Field(default=None, description="ConfigMap holding Cedar policies.")
    audit: Audit = Audit()
    telemetry: Telemetry = Telemetry()
    pod_template: PodTemplateOverride = PodTemplateOverride()

    @model_validator(mode="after")
    def _consistent(self) -> MCPServerSpec:
        if self.transport == "streamable-http" and self.target_port == self.port:
            raise ValueError("targetPort must differ from port (the proxy listens on port)")
        if self.permission_profile == "network" and self.network_policy.allowed_endpoints:
            raise ValueError(
                "permissionProfile network already allows all egress; remove networkPolicy.allowedEndpoints"
            )
        _unique([ref.env for ref in self.secret_refs] + [var.name for var in self.env], "environment variable")
        _unique([policy.type for policy in self.policies], "policy type")
        _unique([volume.name for volume in self.volumes], "volume name")
        return self


def _unique(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what} {value!r}")
        seen.add(value)


class Condition(Model):
    type: str = Field(min_length=1, max_length=316)
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(default="", max_length=1024)
    message: str = Field(default="", max_length=32768)
    last_transition_time: str | None = None
    observed_generation: int | None = Field(default=None, ge=0)


class MCPServerStatus(Model):
    conditions: list[Condition] = Field(default_factory=list)
    url: str | None = None
    observed_tools: list[str] = Field(default_factory=list)
    ready_replicas: int = Field(default=0, ge=0)
    observed_generation: int | None = Field(default=None, ge=0)


class LabelSelectorRequirement(Model):
    key: str = Field(min_length=1, max_length=317)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] = Field(default_factory=list)


class LabelSelector(Model):
    match_labels: dict[str, str] = Field(default_factory=dict)
    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list)


class OIDCAuth(Model):
    issuer: str = Field(pattern=r"^https://[^\s]+$", max_length=2048)
    audience: str = Field(min_length=1, max_length=2048)
    jwks_url: str = Field(pattern=r"^https://[^\s]+$", max_length=2048)


class GatewayAuth(Model):
    model_config = ConfigDict(
        json_schema_extra=_cel(
            ("self.type != 'oidc' || has(self.oidc)", "auth type oidc needs auth.oidc"),
        )
    )

    type: Literal["anonymous", "oidc"] = "anonymous"
    oidc: OIDCAuth | None = None

    @model_validator(mode="after")
    def _oidc_present(self) -> GatewayAuth:
        if self.type == "oidc" and self.oidc is None:
            raise ValueError("auth type oidc needs auth.oidc")
        return self


class ToolSearch(Model):
    enabled: bool = True
    max_tools: int = Field(default=5, ge=1, le=50, description="Tools a search returns.")
    always_include: list[ToolName] = Field(default_factory=list, max_length=256)


class MCPGatewaySpec(Model):
    server_selector: LabelSelector
    image: str | None = Field(default=None, min_length=1, max_length=512, pattern=IMAGE)
    replicas: int = Field(default=1, ge=0, le=50)
    port: Port = 8080
    conflict_resolution: Literal["prefix", "priority", "manual"] = "prefix"
    policies: list[ToolPolicy] = Field(default_factory=list, max_length=2)
    auth: GatewayAuth = GatewayAuth()
    authz_policy_ref: ConfigMapKeyRef | None = None
    tool_search: ToolSearch = ToolSearch()
    audit: Audit = Audit()
    telemetry: Telemetry = Telemetry()
    resources: Resources = Resources()


class MCPGatewayStatus(Model):
    conditions: list[Condition] = Field(default_factory=list)
    url: str | None = None
    backends: list[str] = Field(default_factory=list)
    ready_replicas: int = Field(default=0, ge=0)
    observed_generation: int | None = Field(default=None, ge=0)


class RegistrySource(Model):
    model_config = ConfigDict(
        json_schema_extra=_cel(
            ("self.type != 'registry' || has(self.url)", "a registry source needs url"),
            ("self.type != 'configmap' || has(self.configMap)", "a configmap source needs configMap"),
        )
    )

    name: DnsLabel
    type: Literal["registry", "configmap"]
    url: str | None = Field(default=None, pattern=r"^https://[^\s]+$", max_length=2048)
    config_map: ConfigMapKeyRef | None = Field(
        default=None, description="A ConfigMap key holding server.json entries (a JSON list or one object)."
    )
    tier: Literal["official", "verified", "community"] = "community"

    @model_validator(mode="after")
    def _source_fields(self) -> RegistrySource:
        if self.type == "registry" and self.url is None:
            raise ValueError("a registry source needs url")
        if self.type == "configmap" and self.config_map is None:
            raise ValueError("a configmap source needs configMap")
        return self


class SecretKeyRef(Model):
    name: DnsSubdomain
    key: str = Field(default="url", min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")


class RegistryStorage(Model):
    model_config = ConfigDict(
        json_schema_extra=_cel(
            ("self.type != 'postgres' || has(self.postgresSecretRef)", "postgres storage needs postgresSecretRef"),
        )
    )

    type: Literal["sqlite", "postgres"] = "sqlite"
    size: Quantity = "1Gi"
    storage_class_name: DnsSubdomain | None = None
    postgres_secret_ref: SecretKeyRef | None = Field(default=None, description="Secret key holding the PostgreSQL URL.")

    @model_validator(mode="after")
    def _postgres_url(self) -> RegistryStorage:
        if self.type == "postgres" and self.postgres_secret_ref is None:
            raise ValueError("postgres storage needs postgresSecretRef")
        return self


class MCPRegistrySpec(Model):
    image: str | None = Field(default=None, min_length=1, max_length=512, pattern=IMAGE)
    replicas: int = Field(default=1, ge=0, le=20)
    port: Port = 8080
    storage: RegistryStorage = RegistryStorage()
    sources: list[RegistrySource] = Field(default_factory=list, max_length=64)
    sync_interval: str = Field(default="1h", pattern=DURATION, description="How often the sources are synced.")
    starter_catalogue: bool = Field(default=True, description="Fill an empty registry with the built-in entries.")
    resources: Resources = Resources()

    @model_validator(mode="after")
    def _replicas_fit_storage(self) -> MCPRegistrySpec:
        _unique([source.name for source in self.sources], "source name")
        if self.storage.type == "sqlite" and self.replicas > 1:
            raise ValueError("sqlite storage serves one replica; use postgres storage for more")
        return self


class MCPRegistryStatus(Model):
    conditions: list[Condition] = Field(default_factory=list)
    url: str | None = None
    ready_replicas: int = Field(default=0, ge=0)
    observed_generation: int | None = Field(default=None, ge=0)


class Kind(BaseModel):
    """How one custom resource kind is named and which models describe it."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    spec: type[Model]
    status: type[Model]
    printer_columns: tuple[tuple[str, str, str], ...]  # (name, type, jsonPath)


_READY = ("Ready", "string", '.status.conditions[?(@.type=="Ready")].status')

SERVER = Kind(
    kind="MCPServer",
    plural="mcpservers",
    singular="mcpserver",
    short_names=("mcps",),
    spec=MCPServerSpec,
    status=MCPServerStatus,
    printer_columns=(
        ("Image", "string", ".spec.image"),
        ("Transport", "string", ".spec.transport"),
        _READY,
        ("Replicas", "integer", ".status.readyReplicas"),
        ("URL", "string", ".status.url"),
    ),
)
GATEWAY = Kind(
    kind="MCPGateway",
    plural="mcpgateways",
    singular="mcpgateway",
    short_names=("mcpgw",),
    spec=MCPGatewaySpec,
    status=MCPGatewayStatus,
    printer_columns=(_READY, ("Replicas", "integer", ".status.readyReplicas"), ("URL", "string", ".status.url")),
)
REGISTRY = Kind(
    kind="MCPRegistry",
    plural="mcpregistries",
    singular="mcpregistry",
    short_names=("mcpreg",),
    spec=MCPRegistrySpec,
    status=MCPRegistryStatus,
    printer_columns=(
        ("Storage", "string", ".spec.storage.type"),
        _READY,
        ("URL", "string", ".status.url"),
    ),
)
KINDS: dict[str, Kind] = {kind.kind: kind for kind in (SERVER, GATEWAY, REGISTRY)}

__all__ = [
    "API_VERSION",
    "GATEWAY",
    "GROUP",
    "KINDS",
    "REGISTRY",
    "SERVER",
    "VERSION",
    "Condition",
    "Kind",
    "MCPGatewaySpec",
    "MCPGatewayStatus",
    "MCPRegistrySpec",
    "MCPRegistryStatus",
    "MCPServerSpec",
    "MCPServerStatus",
    "ToolPolicy",
]

"""The gateway's YAML configuration, validated with errors that name the field."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hivekeeper import paths
from hivekeeper.auth.config import AuthConfig
from hivekeeper.gateway.filters import ToolFilterConfig
from hivekeeper.gateway.integrity import IntegrityConfig

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"


class TelemetryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP collector URL: http://host:4318 for http/protobuf (spans go to <url>/v1/traces), "
        "http://host:4317 for grpc (https:// for TLS); no spans when unset.",
    )
    otlp_protocol: Literal["http/protobuf", "grpc"] = Field(
        default="http/protobuf", description="How spans are exported; grpc needs the otlp-grpc extra."
    )
    service_name: str = "hivekeeper-gateway"
    sample_ratio: float = Field(
        default=1.0, ge=0.0, le=1.0, description="Share of new traces recorded (a caller's sampled trace always is)."
    )
    metrics: bool = Field(default=True, description="Serve Prometheus metrics at /metrics.")


class AuditConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file: Path | None = Field(default=None, description="Append NDJSON events to this file.")
    stdout: bool = Field(default=False, description="Also write events to standard output.")
    arguments: bool = Field(default=False, description="Record call arguments (secrets redacted).")
    redact_keys: list[str] = Field(
        default_factory=list, description="Extra argument names (regular expressions) whose values are redacted."
    )


class SearchConfig(BaseModel):
    """Tool search through the gateway."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["meta", "dynamic"] = Field(
        default="meta",
        description="meta: clients see find_tools and call_tool; dynamic: also the tools a session found.",
    )
    k: int = Field(default=5, ge=1, le=50, description="Tools find_tools returns by default.")
    pinned: list[str] = Field(default_factory=list, description="Tools always listed beside the meta-tools.")


class SecretHeader(BaseModel):
    """A header whose value comes from the secret store, e.g. ``Authorization: Bearer {value}``."""

    model_config = ConfigDict(extra="forbid")

    header: str = Field(min_length=1)
    secret: str = Field(min_length=1, description="Secret name (`hivekeeper secret set NAME`).")
    format: str = Field(default="{value}", description="How the value is written; `{value}` is the secret.")


class BackendConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME, description="Unique in the group; the prefix of its tools' names.")
    command: list[str] | None = Field(default=None, min_length=1, description="A local stdio server to run.")
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment of the command.")
    env_secrets: dict[str, str] = Field(
        default_factory=dict, description="Environment variable → secret name, resolved when the command starts."
    )
    url: str | None = Field(default=None, description="A remote Streamable HTTP server.")
    workload: str | None = Field(
        default=None, pattern=_NAME, description="A workload of this host (`hivekeeper run`), reached at its URL."
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="Static headers sent to the URL or workload backend."
    )
    secret_headers: list[SecretHeader] = Field(default_factory=list)
    timeout: float = Field(default=60.0, gt=0, description="Seconds to wait for one answer.")
    era: Literal["auto", "2026-07-28", "2025-11-25"] = "auto"
    tools: ToolFilterConfig = Field(default_factory=ToolFilterConfig)

    @model_validator(mode="after")
    def _one_source(self) -> BackendConfig:
        if sum(source is not None for source in (self.command, self.url, self.workload)) != 1:
            raise ValueError("give exactly one of command, url or workload")
        if self.command is not None and (self.headers or self.secret_headers):
            raise ValueError("headers and secret_headers apply to url and workload backends only")
        return self


class AuthorizationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy_file: Path | None = Field(
        default=None, description="A Cedar policy file, reloaded when it changes (and on SIGHUP)."
    )
    policy: str | None = Field(default=None, description="Cedar policies inline.")
    reload_interval: float = Field(
        default=1.0, gt=0, le=3600, description="Seconds between looks at policy_file for a change."
    )

    @model_validator(mode="after")
    def _one_source(self) -> AuthorizationConfig:
        if (self.policy_file is None) == (self.policy is None):
            raise ValueError("give exactly one of policy_file or policy")
        if self.policy_file is None and "reload_interval" in self.model_fields_set:
            raise ValueError("reload_interval applies to policy_file only: inline policies change with the config")
        return self


class FrontConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allowed_origins: list[str] = Field(default_factory=list, description="Browser origins besides loopback.")
    loopback_only: bool = Field(default=True, description="Refuse non-loopback Host headers (DNS rebinding).")
    session_ttl: float = Field(
        default=3600.0, gt=0, description="Idle seconds before a 2025-11-25 session ends (replicas re-check at 1/4)."
    )
    redis_url: str | None = Field(
        default=None, description="Share 2025-11-25 sessions between replicas through this Redis (redis://…)."
    )


class GatewayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="gateway", pattern=_NAME)
    backends: list[BackendConfig] = Field(default_factory=list, description="Declared backends, in priority order.")
    group: str | None = Field(
        default=None,
        pattern=_NAME,
        description="Also serve every running workload of this group (`hivekeeper run --group`), "
        "added and removed as workloads start and stop; declared backends win a name clash.",
    )
    conflict: Literal["prefix", "priority", "manual"] = Field(
        default="prefix",
        description="prefix: every name becomes <backend><separator><name>; priority: the earlier backend wins; "
        "manual: clashes are withheld until renamed.",
    )
    separator: str = Field(default="_", min_length=1, max_length=3)
    unavailable: Literal["fail", "hide"] = Field(
        default="fail", description="A down backend's tools: listed and failing with an error, or hidden."
    )
    auth: AuthConfig | None = Field(default=None, description="Inbound authentication; absent = anonymous.")
    authorization: AuthorizationConfig | None = None
    integrity: IntegrityConfig = Field(default_factory=IntegrityConfig)
    search: SearchConfig | None = Field(default=None, description="Tool search; absent = every tool is listed.")
    audit: AuditConfig = Field(default_factory=AuditConfig)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    front: FrontConfig = Field(default_factory=FrontConfig)

    def relative_to(self, base: Path) -> GatewayConfig:
        """This config with its relative file paths read as relative to ``base`` (the config file's folder)."""
        update: dict[str, object] = {}
        if self.authorization and self.authorization.policy_file and not self.authorization.policy_file.is_absolute():
            update["authorization"] = self.authorization.model_copy(
                update={"policy_file": base / self.authorization.policy_file}
            )
        if self.audit.file and not self.audit.file.is_absolute():
            update["audit"] = self.audit.model_copy(update={"file": base / self.audit.file})
        if self.integrity.directory and not self.integrity.directory.is_absolute():
            update["integrity"] = self.integrity.model_copy(update={"directory": base / self.integrity.directory})
        return self.model_copy(update=update)

    def integrity_directory(self) -> Path:
        """Where this gateway's ``pins.json`` / ``observed.json`` live."""
        return self.integrity.directory or paths.state_dir() / "gateway" / self.name

    @model_validator(mode="after")
    def _unique_names(self) -> GatewayConfig:
        if not self.backends and self.group is None:
            raise ValueError("give backends, a group, or both")
        seen: set[str] = set()
        for backend in self.backends:
            if backend.name in seen:
                raise ValueError(f"backend name {backend.name!r} is used twice")
            seen.add(backend.name)
        return self

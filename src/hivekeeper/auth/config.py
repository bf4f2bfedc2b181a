"""Inbound authentication settings of the gateway (YAML, validated with field-named errors)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator


class OidcConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    issuer: str = Field(description="Expected `iss` claim.")
    jwks_url: HttpUrl = Field(description="Where the issuer publishes its signing keys.")
    audience: list[str] = Field(
        default_factory=list,
        description="Accepted `aud` values; empty means the gateway's own resource URL (RFC 8707).",
    )
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256", "PS256", "EdDSA"])
    subject_claim: str = "sub"
    jwks_cache_seconds: float = Field(default=300.0, gt=0)


class ApiKeyConfig(BaseModel):
    """A static key for simple setups. The config holds only its SHA-256, never the key itself."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="The subject callers with this key appear as.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="hex SHA-256 of the key")
    claims: dict[str, Any] = Field(default_factory=dict, description="Extra attributes seen by policies.")


class AuthConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resource: str | None = Field(
        default=None,
        description="This gateway's public resource URL (RFC 8707/9728), e.g. https://mcp.example.com/mcp. "
        "Defaults to the URL the request arrived at.",
    )
    authorization_servers: list[str] = Field(
        default_factory=list, description="Issuers advertised in the protected-resource metadata."
    )
    scopes_supported: list[str] = Field(default_factory=list)
    oidc: OidcConfig | None = None
    api_keys: list[ApiKeyConfig] = Field(default_factory=list)
    anonymous: bool = Field(default=False, description="Let requests without credentials in, as subject `anonymous`.")

    @model_validator(mode="after")
    def _some_way_in(self) -> AuthConfig:
        if self.oidc is None and not self.api_keys and not self.anonymous:
            raise ValueError("configure oidc, api_keys, or anonymous: true; otherwise nobody can get in")
        return self

"""Registry configuration: the ``registry:`` block of the ``hivekeeper serve`` YAML."""

from __future__ import annotations

import hashlib
import hmac
import os
from fnmatch import fnmatchcase
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hivekeeper.registry.curation import TrustTier

TOKEN_ENV = "HIVEKEEPER_REGISTRY_TOKEN"


class PublishToken(BaseModel):
    """A static bearer token allowed to publish into some namespaces, at a trust tier."""

    model_config = ConfigDict(extra="forbid")

    token: str | None = Field(default=None, min_length=16, description="The token itself (prefer sha256).")
    sha256: str | None = Field(default=None, pattern=r"^[a-f0-9]{64}$", description="sha256 hex of the token.")
    namespaces: list[str] = Field(default_factory=lambda: ["*"], description="Name patterns, e.g. io.github.acme/*")
    tier: TrustTier = TrustTier.COMMUNITY
    label: str = "token"

    @model_validator(mode="after")
    def _one_secret(self) -> PublishToken:
        if (self.token is None) == (self.sha256 is None):
            raise ValueError("give exactly one of token or sha256")
        return self

    def matches(self, presented: str) -> bool:
        expected = self.sha256 or hashlib.sha256((self.token or "").encode()).hexdigest()
        return hmac.compare_digest(hashlib.sha256(presented.encode()).hexdigest(), expected)

    def allows(self, server_name: str) -> bool:
        return any(fnmatchcase(server_name, pattern) for pattern in self.namespaces)


class SyncSource(BaseModel):
    """Where curated entries come from: a local file or folder, a git repository, another registry."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")
    kind: Literal["file", "git", "registry"]
    location: str = Field(min_length=1, description="Path, git URL, or registry base URL.")
    ref: str | None = Field(default=None, description="git branch, tag or commit.")
    path: str = Field(default=".", description="Inside a git repository: the file or folder holding server.json files.")
    tier: TrustTier = TrustTier.COMMUNITY


class RegistrySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default: SQLite under the data folder.")
    publish_tokens: list[PublishToken] = Field(default_factory=list)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, le=16 * 1024 * 1024)
    starter_catalogue: bool = True
    sources: list[SyncSource] = Field(default_factory=list)

    def tokens(self) -> list[PublishToken]:
        """Configured tokens plus one admin token from ``HIVEKEEPER_REGISTRY_TOKEN`` when it is set."""
        tokens = list(self.publish_tokens)
        from_env = os.environ.get(TOKEN_ENV)
        if from_env:
            tokens.append(PublishToken(token=from_env, tier=TrustTier.VERIFIED, label=TOKEN_ENV))
        return tokens


__all__ = ["TOKEN_ENV", "PublishToken", "RegistrySettings", "SyncSource"]

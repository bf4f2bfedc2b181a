"""Hivekeeper's curation of an entry: trust tier, what it needs to run, and what the scan found.

Publishers describe tools and the permission profile under ``_meta["dev.hivekeeper/server"]`` in their
``server.json``; the registry derives the rest and serves it under ``_meta["dev.hivekeeper/curation"]``
of each response, next to the official registry's own ``_meta`` block.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import orjson

from hivekeeper.registry.scan import scan_entry

PUBLISHER_META = "dev.hivekeeper/server"
CURATION_META = "dev.hivekeeper/curation"
OFFICIAL_META = "io.modelcontextprotocol.registry/official"


class TrustTier(StrEnum):
    OFFICIAL = "official"
    VERIFIED = "verified"
    COMMUNITY = "community"


class Status(StrEnum):
    ACTIVE = "active"
    DEPRECATED = "deprecated"
    DELETED = "deleted"


def content_hash(server: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of a ``server.json``: equal content, equal hash, whatever the key order."""
    return hashlib.sha256(orjson.dumps(server, option=orjson.OPT_SORT_KEYS)).hexdigest()


def description_hash(description: str | None) -> str:
    return hashlib.sha256((description or "").encode()).hexdigest()


def publisher_block(server: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = server.get("_meta")
    block = meta.get(PUBLISHER_META) if isinstance(meta, Mapping) else None
    return block if isinstance(block, Mapping) else {}


def _transport(server: Mapping[str, Any]) -> str | None:
    for package in server.get("packages") or []:
        transport = package.get("transport")
        if isinstance(transport, Mapping) and transport.get("type"):
            return str(transport["type"])
    for remote in server.get("remotes") or []:
        if remote.get("type"):
            return str(remote["type"])
    return None


def _env(server: Mapping[str, Any]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for package in server.get("packages") or []:
        for variable in package.get("environmentVariables") or []:
            name = variable.get("name")
            if isinstance(name, str) and name not in seen:
                seen[name] = {
                    "name": name,
                    "required": bool(variable.get("isRequired", False)),
                    "secret": bool(variable.get("isSecret", False)),
                    "description": variable.get("description", ""),
                    "default": None if variable.get("isSecret") else variable.get("default"),
                }
    return list(seen.values())


def _artifacts(server: Mapping[str, Any]) -> list[dict[str, Any]]:
    artifacts = []
    for package in server.get("packages") or []:
        identifier = str(package.get("identifier", ""))
        digest = identifier.rsplit("@", 1)[1] if "@sha256:" in identifier else None
        artifacts.append(
            {
                "registryType": package.get("registryType"),
                "identifier": identifier,
                "version": package.get("version"),
                "sha256": package.get("fileSha256"),
                "digest": digest,
            }
        )
    return artifacts


def curate(server: Mapping[str, Any], *, tier: TrustTier, source: str) -> dict[str, Any]:
    """The curation block for ``server`` (a validated ``server.json``): derived data plus scan findings."""
    block = publisher_block(server)
    tools = [tool for tool in block.get("tools") or [] if isinstance(tool, Mapping)]
    profile = block.get("permissionProfile") if isinstance(block.get("permissionProfile"), Mapping) else None
    findings = scan_entry(server, tools, profile)
    declared = block.get("provenance")
    provenance: Mapping[str, Any] = declared if isinstance(declared, Mapping) else {}
    return {
        "trustTier": str(tier),
        "source": source,
        "contentHash": content_hash(server),
        "transport": _transport(server),
        "tools": [
            {
                "name": str(tool.get("name", "")),
                "description": tool.get("description", ""),
                "descriptionSha256": description_hash(tool.get("description")),
            }
            for tool in tools
        ],
        "permissionProfile": profile,
        "env": _env(server),
        "artifacts": _artifacts(server),
        "findings": [finding.to_dict() for finding in findings],
        # Who must have signed the release; the bundle itself is checked against the artifact at run time.
        "provenance": {"identity": provenance.get("identity"), "issuer": provenance.get("issuer")}
        if provenance.get("bundle")
        else None,
    }


def search_text(server: Mapping[str, Any]) -> str:
    parts = [server.get("name", ""), server.get("title", ""), server.get("description", "")]
    return " ".join(str(part) for part in parts if part).lower()


__all__ = [
    "CURATION_META",
    "OFFICIAL_META",
    "PUBLISHER_META",
    "Status",
    "TrustTier",
    "content_hash",
    "curate",
    "description_hash",
    "publisher_block",
    "search_text",
]

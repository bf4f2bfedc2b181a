"""The security scan an entry goes through at import: tool text, schema defaults, permissions, pinning.

Findings do not block an import: they are stored on the entry and shown in the portal, and the
runtime/policy layers decide what to refuse.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from hivekeeper.policy.injection import Finding, Severity, scan_text, scan_tool

# Flags whose ``true`` default turns a cautious tool into a destructive or unchecked one.
_RISKY_FLAG = re.compile(
    r"(^|_|-)(force|recursive|overwrite|delete|purge|unsafe|insecure|no_?verify|skip_?(verify|ssl|tls|checks?)"
    r"|allow_?all|dangerous(ly)?|sudo|privileged|auto_?approve|yolo)($|_|-)",
    re.IGNORECASE,
)
_BROAD_PATH = re.compile(r"^(/|~|~/|\$HOME/?|/home/?|/root/?|\*|/\*\*?|[A-Za-z]:\\?)$")
_IMAGE_DIGEST = re.compile(r"@sha256:[a-f0-9]{64}$")


def scan_tools(tools: Iterable[Mapping[str, Any]]) -> list[Finding]:
    findings: list[Finding] = []
    for index, tool in enumerate(tools):
        location = f"tools[{index}]"
        findings.extend(scan_tool(str(tool.get("name", "")), tool.get("description"), location))
        schema = tool.get("inputSchema")
        if isinstance(schema, Mapping):
            findings.extend(_schema_defaults(schema, f"{location}.inputSchema"))
    return findings


def _schema_defaults(schema: Mapping[str, Any], location: str) -> Iterable[Finding]:
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return
    for name, prop in properties.items():
        if not isinstance(prop, Mapping):
            continue
        where = f"{location}.properties.{name}"
        default = prop.get("default")
        if default is True and _RISKY_FLAG.search(name):
            yield Finding("dangerous-default", Severity.HIGH, where, f"'{name}' defaults to true")
        elif isinstance(default, str) and _BROAD_PATH.match(default.strip()):
            yield Finding("dangerous-default", Severity.HIGH, where, f"'{name}' defaults to the broad path {default!r}")
        if isinstance(prop.get("description"), str):
            yield from scan_text(prop["description"], f"{where}.description")
        if prop.get("type") == "object":
            yield from _schema_defaults(prop, where)


def _input_defaults(inputs: Iterable[Mapping[str, Any]], location: str) -> Iterable[Finding]:
    for index, item in enumerate(inputs):
        where = f"{location}[{index}]"
        label = str(item.get("name") or item.get("valueHint") or "")
        for field in ("default", "value"):
            value = item.get(field)
            if not isinstance(value, str):
                continue
            if item.get("format") == "filepath" and _BROAD_PATH.match(value.strip()):
                yield Finding(
                    "dangerous-default", Severity.HIGH, f"{where}.{field}", f"'{label}' is the path {value!r}"
                )
            elif value.lower() == "true" and _RISKY_FLAG.search(label.lstrip("-")):
                yield Finding("dangerous-default", Severity.HIGH, f"{where}.{field}", f"'{label}' is set to true")
        if item.get("isSecret") and isinstance(item.get("default"), str) and item["default"]:
            yield Finding("secret-default", Severity.MEDIUM, f"{where}.default", f"secret '{label}' ships a default")


def scan_profile(profile: Mapping[str, Any] | None, location: str = "permissionProfile") -> list[Finding]:
    """Flag permission profiles that open the network to everything or allow writing everywhere."""
    if not profile:
        return []
    findings = []
    network = profile.get("network")
    outbound = network.get("outbound") if isinstance(network, Mapping) else None
    hosts = outbound.get("allowHost") if isinstance(outbound, Mapping) else None
    any_host = isinstance(outbound, Mapping) and (
        outbound.get("insecureAllowAll") or (isinstance(hosts, list) and "*" in hosts)
    )
    if network is True or any_host:
        findings.append(
            Finding("network-unrestricted", Severity.HIGH, f"{location}.network", "outbound network to any host")
        )
    for mode, severity in (("write", Severity.HIGH), ("read", Severity.MEDIUM)):
        for index, path in enumerate(profile.get(mode) or []):
            if isinstance(path, str) and _BROAD_PATH.match(path.strip()):
                findings.append(
                    Finding(f"{mode}-everything", severity, f"{location}.{mode}[{index}]", f"{mode} access to {path!r}")
                )
    return findings


def scan_artifacts(server: Mapping[str, Any]) -> list[Finding]:
    findings = []
    for index, package in enumerate(server.get("packages") or []):
        where = f"packages[{index}]"
        if package.get("registryType") == "oci":
            if not _IMAGE_DIGEST.search(str(package.get("identifier", ""))):
                findings.append(Finding("unpinned-image", Severity.MEDIUM, where, "image is not pinned by digest"))
        elif not package.get("version"):
            findings.append(Finding("unpinned-package", Severity.MEDIUM, where, "package has no exact version"))
        elif not package.get("fileSha256"):
            findings.append(Finding("no-artifact-digest", Severity.LOW, where, "no fileSha256 to check the download"))
        findings.extend(_input_defaults(package.get("environmentVariables") or [], f"{where}.environmentVariables"))
        findings.extend(_input_defaults(package.get("packageArguments") or [], f"{where}.packageArguments"))
        findings.extend(_input_defaults(package.get("runtimeArguments") or [], f"{where}.runtimeArguments"))
    return findings


def scan_entry(
    server: Mapping[str, Any], tools: list[Mapping[str, Any]], profile: Mapping[str, Any] | None
) -> list[Finding]:
    """Every finding for one ``server.json`` with its declared tools and permission profile."""
    findings: list[Finding] = []
    for field in ("title", "description"):
        if isinstance(server.get(field), str):
            findings.extend(scan_text(server[field], field))
    findings.extend(scan_tools(tools))
    findings.extend(scan_profile(profile))
    findings.extend(scan_artifacts(server))
    return findings


__all__ = ["scan_artifacts", "scan_entry", "scan_profile", "scan_tools"]

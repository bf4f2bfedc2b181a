"""Registry names as workload sources: ``hivekeeper run io.modelcontextprotocol/time`` → a pinned package.

The workloads manager asks resolvers registered with ``hivekeeper.workloads.register_resolver``;
:func:`registry_resolver` answers from this machine's registry database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from hivekeeper.errors import ConfigError, NotFoundError
from hivekeeper.registry.curation import CURATION_META

_TEMPLATE = re.compile(r"\{[^}]*\}")
_REGISTRY_NAME = re.compile(r"^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+(@[^@/\s]+)?$")


def runnable_source(server: Mapping[str, Any]) -> tuple[str, str, Mapping[str, Any] | None]:
    """(source, runtime, package) of the first package or remote of ``server`` that hivekeeper can run."""
    for package in server.get("packages") or []:
        kind, identifier, version = package.get("registryType"), package.get("identifier"), package.get("version")
        pinned = f"@{version}" if version else ""
        if kind == "pypi":
            return f"uvx://{identifier}{pinned}", "sandbox", package
        if kind == "npm":
            return f"npx://{identifier}{pinned}", "sandbox", package
        if kind == "oci":
            return str(identifier), "docker", package
    for remote in server.get("remotes") or []:
        url = str(remote.get("url", ""))
        if not _TEMPLATE.search(url):
            return url, "sandbox", None
    raise ConfigError(f"{server.get('name')}: no package or remote that hivekeeper can run")


def profile_name(curation: Mapping[str, Any]) -> str:
    """The built-in profile closest to what the entry declares: ``network`` if it needs outbound access."""
    profile = curation.get("permissionProfile") or {}
    network = profile.get("network") if isinstance(profile, Mapping) else None
    outbound = network.get("outbound") if isinstance(network, Mapping) else None
    return "network" if network is True or (isinstance(outbound, Mapping) and bool(outbound)) else "none"


def registry_resolver(text: str) -> Any:
    """A ``hivekeeper.workloads`` resolver: ``NAME[@VERSION]`` of the local registry → ``RegistryMatch``."""
    if not _REGISTRY_NAME.match(text):
        return None
    from hivekeeper.registry import RegistrySettings, open_registry
    from hivekeeper.workloads import RegistryMatch

    name, _, version = text.partition("@")
    store = open_registry(RegistrySettings()).store
    try:
        entry = store.get(name, version or "latest")
    except NotFoundError:
        return None
    finally:
        store.close()
    source, _, package = runnable_source(entry.server)
    fixed_args: list[str] = []
    for argument in (package or {}).get("packageArguments") or []:
        if argument.get("value") is None:
            continue
        fixed_args += (
            [str(argument["name"]), str(argument["value"])]
            if argument.get("type") == "named"
            else [str(argument["value"])]
        )
    env = {
        variable["name"]: str(variable["default"])
        for variable in (package or {}).get("environmentVariables") or []
        if variable.get("default") and not variable.get("isSecret")
    }
    return RegistryMatch(
        source=source, args=fixed_args, env=env, profile=profile_name(entry.to_response()["_meta"][CURATION_META])
    )


__all__ = ["profile_name", "registry_resolver", "runnable_source"]

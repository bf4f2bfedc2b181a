"""Registry names as workload sources: ``hivekeeper run io.modelcontextprotocol/time`` → a pinned package.

The workloads manager asks resolvers registered with ``hivekeeper.workloads.register_resolver``;
:func:`registry_resolver` answers from the registry database a workload names (the portal names the one it
shows), else from this machine's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from hivekeeper.errors import ConfigError, NotFoundError
from hivekeeper.registry.curation import CURATION_META
from hivekeeper.runtime.base import EgressRule
from hivekeeper.runtime.egress import format_allow, parse_allow

if TYPE_CHECKING:
    from hivekeeper.registry.store import Entry

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


@dataclass(frozen=True)
class NetworkAccess:
    """What an entry's ``permissionProfile.network`` asks for, in ``hivekeeper run`` terms: the built-in
    profile (``network`` only for open egress) and the ``--allow-host`` rules of its allowlist."""

    profile: str = "none"
    allow_hosts: tuple[str, ...] = ()


_OUTBOUND_FIELDS = ("insecureAllowAll", "allowHost", "allowPort")


def network_access(curation: Mapping[str, Any]) -> NetworkAccess:
    """Read the curated ``permissionProfile.network`` of an entry.

    ``network: true``, ``outbound.insecureAllowAll: true`` or an ``allowHost`` of ``*`` ask for open egress;
    ``outbound.allowHost`` (``HOST``, ``*.domain``, IP, each optionally ``:PORT``) with an optional
    ``allowPort`` list becomes exactly that allowlist (every host on every listed port). Anything else in
    ``outbound`` is refused (ConfigError naming the field) rather than guessed at: a misread allowlist
    either breaks the server or widens what it may reach.
    """
    profile = curation.get("permissionProfile") or {}
    network = profile.get("network") if isinstance(profile, Mapping) else None
    if network is True:
        return NetworkAccess(profile="network")
    if network is None or network is False:
        return NetworkAccess()
    where = "permissionProfile.network"
    if not isinstance(network, Mapping) or set(network) - {"outbound"}:
        raise ConfigError(f"{where}: expected true, false or {{outbound: ...}}")
    outbound = network.get("outbound") or {}
    where += ".outbound"
    if not isinstance(outbound, Mapping):
        raise ConfigError(f"{where}: expected a mapping of {', '.join(_OUTBOUND_FIELDS)}")
    unknown = sorted(set(outbound) - set(_OUTBOUND_FIELDS))
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown field (expected {', '.join(_OUTBOUND_FIELDS)})")
    hosts, ports = outbound.get("allowHost") or [], outbound.get("allowPort") or []
    if not isinstance(outbound.get("insecureAllowAll", False), bool):
        raise ConfigError(f"{where}.insecureAllowAll: expected true or false")
    if not isinstance(hosts, list) or not all(isinstance(host, str) for host in hosts):
        raise ConfigError(f"{where}.allowHost: expected a list of host names")
    if outbound.get("insecureAllowAll") or "*" in hosts:
        return NetworkAccess(profile="network")
    if not isinstance(ports, list) or not all(type(port) is int and 0 < port < 65536 for port in ports):
        raise ConfigError(f"{where}.allowPort: expected a list of ports 1-65535")
    if ports and not hosts:
        raise ConfigError(f"{where}.allowPort: ports without allowHost would allow nothing")
    rules: list[EgressRule] = []
    for index, host in enumerate(hosts):
        try:
            rule = parse_allow(host)
        except ConfigError as exc:
            raise ConfigError(f"{where}.allowHost[{index}]: {exc.message}") from None
        if rule.port is not None and ports:
            raise ConfigError(f"{where}.allowHost[{index}]: {host!r} names a port and allowPort lists more")
        rules += [replace(rule, port=port) for port in ports] if ports else [rule]
    return NetworkAccess(allow_hosts=tuple(dict.fromkeys(format_allow(rule) for rule in rules)))


def profile_name(curation: Mapping[str, Any]) -> str:
    """The built-in profile an entry runs under: ``network`` only if it asks for open egress."""
    return network_access(curation).profile


def entry_reference(server: Mapping[str, Any]) -> str:
    """``NAME@VERSION``: the exact entry a workload records and re-checks its pinned artifact against."""
    return f"{server['name']}@{server['version']}"


def argument_words(argument: Mapping[str, Any], value: str) -> list[str]:
    """The command-line words of one ``packageArguments`` item given its value (``--name value`` if named)."""
    return [str(argument["name"]), value] if argument.get("type") == "named" else [value]


def registry_entry(reference: str, database: str | None = None) -> Entry:
    """The entry ``NAME[@VERSION]`` (latest when no version) of the registry at ``database``; NotFoundError.

    Without a database, this machine's registry (``HIVEKEEPER_REGISTRY_DATABASE_URL``, else the data folder's
    SQLite file), filled with the starter catalogue when empty, as ``hivekeeper run`` has always found it. A
    named database gets no starter catalogue: what it holds is up to whoever configured it (a portal).
    """
    from hivekeeper.registry import RegistrySettings, RegistryStore, open_registry

    name, _, version = reference.partition("@")
    store = RegistryStore.open(database) if database else open_registry(RegistrySettings()).store
    try:
        return store.get(name, version or "latest")
    finally:
        store.close()


def registry_resolver(text: str, database: str | None = None) -> Any:
    """A ``hivekeeper.workloads`` resolver: ``NAME[@VERSION]`` of the registry at ``database`` (None: this
    machine's) → ``RegistryMatch``."""
    if not _REGISTRY_NAME.match(text):
        return None
    from hivekeeper.workloads import RegistryMatch

    try:
        entry = registry_entry(text, database)
    except NotFoundError:
        return None
    source, _, package = runnable_source(entry.server)
    fixed_args = [
        word
        for argument in (package or {}).get("packageArguments") or []
        if argument.get("value") is not None
        for word in argument_words(argument, str(argument["value"]))
    ]
    env = {
        variable["name"]: str(variable["default"])
        for variable in (package or {}).get("environmentVariables") or []
        if variable.get("default") and not variable.get("isSecret")
    }
    reference = entry_reference(entry.server)
    try:
        access = network_access(entry.to_response()["_meta"][CURATION_META])
    except ConfigError as exc:
        raise ConfigError(f"registry entry {reference}: {exc.message}") from None
    return RegistryMatch(
        source=source,
        args=fixed_args,
        env=env,
        profile=access.profile,
        allow_hosts=access.allow_hosts,
        reference=reference,
    )


__all__ = [
    "NetworkAccess",
    "argument_words",
    "entry_reference",
    "network_access",
    "profile_name",
    "registry_entry",
    "registry_resolver",
    "runnable_source",
]

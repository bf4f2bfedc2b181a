"""Permission profiles: what a server may touch — mounts, outbound network, resources.

A profile is a YAML or JSON document (format: ``docs/profiles.md``) or one of the built-ins:
``none`` (no network, no mounts; the default for a server nobody described) and ``network``
(unrestricted outbound network, flagged loudly through :attr:`Profile.warning`). A profile turns into
the parts of a :class:`~hivekeeper.runtime.base.LaunchSpec` with :meth:`Profile.mounts`,
:meth:`Profile.egress` and :meth:`Profile.limits`; command-line flags are merged on top by the caller.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from hivekeeper.config import load_model, validate_document
from hivekeeper.errors import ConfigError
from hivekeeper.runtime.base import OPEN_EGRESS, EgressRule, Limits, Mount
from hivekeeper.runtime.egress import parse_allow

_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
MIN_MEMORY = 4 << 20


def parse_memory(value: str | int) -> int:
    """Bytes from ``268435456``, ``"256m"``, ``"1.5g"``, ``"512MiB"`` (binary units, like docker)."""
    if isinstance(value, int):
        amount = value
    else:
        match = _MEMORY.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a size: use bytes or a number with k, m, g or t (e.g. 256m)")
        amount = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if amount < MIN_MEMORY:
        raise ValueError(f"{value!r} is below the 4m minimum a server process needs")
    return amount


def parse_volume(text: str) -> tuple[Path, str]:
    """``HOST[:TARGET]`` with absolute paths; TARGET defaults to HOST."""
    host, _, target = text.partition(":")
    target = target or host
    if not host.startswith("/") or not target.startswith("/"):
        raise ValueError(f"{text!r}: use absolute paths, HOST[:TARGET]")
    if ".." in Path(host).parts or ".." in Path(target).parts:
        raise ValueError(f"{text!r}: '..' is not allowed in mount paths")
    return Path(host), target.rstrip("/") or "/"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Filesystem(_Strict):
    read: list[str] = Field(default_factory=list, description="HOST[:TARGET] mounted read-only")
    write: list[str] = Field(default_factory=list, description="HOST[:TARGET] mounted read-write")

    @field_validator("read", "write")
    @classmethod
    def _volumes(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            parse_volume(entry)
        return entries


class Outbound(_Strict):
    allow: list[str] = Field(default_factory=list, description="HOST[:PORT], *.domain[:PORT] or IP[:PORT]")
    open: bool = Field(default=False, description="unrestricted egress (any host, any port)")

    @field_validator("allow")
    @classmethod
    def _rules(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            try:
                rule = parse_allow(entry)
            except ConfigError as exc:
                raise ValueError(exc.message) from None
            if rule.host == "*":
                raise ValueError("'*' in allow: write 'open: true' to give unrestricted egress deliberately")
        return entries

    @model_validator(mode="after")
    def _open_or_allow(self) -> Outbound:
        if self.open and self.allow:
            raise ValueError("'open: true' already allows every destination: drop 'allow' or set open to false")
        return self


class Network(_Strict):
    outbound: Outbound = Field(default_factory=Outbound)


def _memory_field(value: Any) -> Any:
    return parse_memory(value) if isinstance(value, str | int) and not isinstance(value, bool) else value


class Resources(_Strict):
    memory: Annotated[int, BeforeValidator(_memory_field)] = Field(default=512 << 20, description="bytes or 256m")
    cpus: float = Field(default=1.0, gt=0, le=256)
    pids: int = Field(default=256, ge=8, le=1 << 22)


class Profile(_Strict):
    name: str = Field(default="custom", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    description: str = ""
    filesystem: Filesystem = Field(default_factory=Filesystem)
    network: Network = Field(default_factory=Network)
    resources: Resources = Field(default_factory=Resources)

    def mounts(self) -> list[Mount]:
        parsed = [(parse_volume(entry), True) for entry in self.filesystem.read]
        parsed += [(parse_volume(entry), False) for entry in self.filesystem.write]
        return [Mount(host=host, target=target, read_only=read_only) for (host, target), read_only in parsed]

    def egress(self) -> tuple[EgressRule, ...] | None:
        """None: no network at all. ``OPEN_EGRESS``: anything (see :attr:`warning`)."""
        if self.network.outbound.open:
            return OPEN_EGRESS
        rules = tuple(parse_allow(entry) for entry in self.network.outbound.allow)
        return rules or None

    def limits(self) -> Limits:
        return Limits(memory_bytes=self.resources.memory, cpus=self.resources.cpus, pids=self.resources.pids)

    @property
    def warning(self) -> str | None:
        """Set when the profile is dangerous enough that a human should see it every time it is used."""
        if self.network.outbound.open:
            return (
                f"profile {self.name!r} gives the server UNRESTRICTED outbound network access "
                "(any host, any port; only this machine's loopback and link-local addresses stay blocked)"
            )
        return None


BUILTIN_PROFILES: dict[str, Profile] = {
    "none": Profile(name="none", description="No network, no host files: the default for an unknown server."),
    "network": Profile(
        name="network",
        description="Unrestricted outbound network, no host files. Prefer an allowlist.",
        network=Network(outbound=Outbound(open=True)),
    ),
}
DEFAULT_PROFILE = "none"


def builtin(name: str) -> Profile:
    try:
        return BUILTIN_PROFILES[name]
    except KeyError:
        raise ConfigError(f"no built-in profile {name!r} (built-ins: {', '.join(BUILTIN_PROFILES)})") from None


def load_profile(reference: str | Path) -> Profile:
    """A built-in by name (``none``, ``network``) or a YAML/JSON profile file; the file's stem names it."""
    if isinstance(reference, str) and reference in BUILTIN_PROFILES:
        return BUILTIN_PROFILES[reference]
    path = Path(reference)
    profile = load_model(path, Profile)
    if "name" not in profile.model_fields_set:
        profile = profile.model_copy(update={"name": path.stem})
    return profile


def profile_from_data(data: Any, source: str) -> Profile:
    """Validate an already-parsed document (e.g. a profile embedded in a run config)."""
    return validate_document(data, Profile, source)

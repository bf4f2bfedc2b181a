"""What a workload is, as the user declared it: the flags of ``hivekeeper run`` and the document that
``hivekeeper export`` prints and ``run --from-config`` reads back. Holds secret *references* only.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from hivekeeper.errors import HivekeeperError
from hivekeeper.policy.profiles import parse_memory
from hivekeeper.runtime.base import EgressRule, Limits, Mount
from hivekeeper.runtime.egress import parse_allow
from hivekeeper.secrets import SecretRef

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,48}[a-z0-9])?$"  # leaves room for "hk-TAG-" and "-NN" in sandbox names
RuntimeName = Literal["sandbox", "docker", "podman", "process"]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``90s`` / ``10m`` / ``1h30m`` / ``500ms`` → seconds."""
    stripped = text.strip().lower()
    parts = _DURATION.findall(stripped)
    if not parts or "".join(f"{n}{u}" for n, u in parts) != stripped:
        raise ValueError(f"{text!r} is not a duration (e.g. 30s, 10m, 1h)")
    return sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)


def parse_volume(text: str) -> Mount:
    """``HOST:CONTAINER[:ro|:rw]``: read-only unless ``:rw`` is said."""
    parts = text.split(":")
    mode = "ro"
    if len(parts) == 3 and parts[2] in ("ro", "rw"):
        mode = parts.pop()
    if len(parts) != 2 or not parts[0] or not parts[1].startswith("/"):
        raise ValueError(f"{text!r}: expected HOST:CONTAINER[:ro|:rw] with an absolute CONTAINER path")
    host = Path(parts[0]).expanduser().resolve()
    if not host.exists():
        raise ValueError(f"{text!r}: host path {host} does not exist")
    return Mount(host=host, target=parts[1], read_only=mode == "ro")


def _check(parser: Any) -> Any:
    """Run ``parser`` for its validation only; the document keeps the user's text (so export round-trips)."""

    def validate(value: Any) -> Any:
        if value is None:
            return value
        try:
            parser(value)
        except HivekeeperError as exc:  # the shared parsers raise these; pydantic wants ValueError
            raise ValueError(exc.message) from None
        return value

    return AfterValidator(validate)


class WorkloadSpec(BaseModel):
    """One MCP server to keep running. Field names are the long flags of ``hivekeeper run``."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    source: Annotated[str, Field(min_length=1)]
    args: list[str] = []
    workdir: str | None = None  # local commands: where relative paths in ``args`` were meant
    runtime: RuntimeName = "sandbox"
    profile: str | None = None  # a built-in profile name or a profile file
    memory: Annotated[str | None, _check(parse_memory)] = None
    cpus: Annotated[float | None, Field(gt=0, le=256)] = None
    pids: Annotated[int | None, Field(ge=8, le=1_000_000)] = None
    allow_hosts: list[Annotated[str, _check(parse_allow)]] = []
    volumes: list[Annotated[str, _check(parse_volume)]] = []
    secrets: list[Annotated[str, _check(SecretRef.parse)]] = []
    env: dict[str, str] = {}
    port: Annotated[int | None, Field(ge=1, le=65535)] = None
    pool: Annotated[int, Field(ge=1, le=64)] = 1
    idle_stop: Annotated[str | None, _check(parse_duration)] = None
    group: Annotated[str | None, Field(pattern=NAME_PATTERN)] = None
    registry: str | None = None
    """``NAME@VERSION`` of the registry entry ``source`` was resolved from: its pinned digest is checked before
    every start. Set by the manager when SOURCE is a registry name."""
    registry_database: str | None = None
    """The registry database (SQLAlchemy URL) a registry name is resolved in and its entry's pin re-read from
    at every start; unset, this machine's registry. The portal names the database it shows."""

    @field_validator("registry_database")
    @classmethod
    def _no_password(cls, url: str | None) -> str | None:
        # the spec is stored in plain text with the workload; a password belongs in PGPASSWORD or ~/.pgpass
        if url is not None and urlsplit(url).password is not None:
            raise ValueError("must not carry a password (it would be stored with the workload): use PGPASSWORD")
        return url

    @field_validator("env")
    @classmethod
    def _env_names(cls, env: dict[str, str]) -> dict[str, str]:
        for key in env:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise ValueError(f"{key!r} is not a valid environment variable name")
        return env

    # Parsed views used by the manager; the stored document stays as the user wrote it.
    def limits(self, base: Limits) -> Limits:
        """``base`` (the profile's limits) with the flags that were given on top."""
        return Limits(
            memory_bytes=parse_memory(self.memory) if self.memory else base.memory_bytes,
            cpus=self.cpus if self.cpus is not None else base.cpus,
            pids=self.pids if self.pids is not None else base.pids,
        )

    def mounts(self) -> list[Mount]:
        return [parse_volume(volume) for volume in self.volumes]

    def egress(self) -> list[EgressRule]:
        return [parse_allow(rule) for rule in self.allow_hosts]

    def secret_refs(self) -> list[SecretRef]:
        return [SecretRef.parse(ref) for ref in self.secrets]

    def idle_stop_seconds(self) -> float | None:
        return parse_duration(self.idle_stop) if self.idle_stop else None

    def export_document(self) -> dict[str, Any]:
        """The ``run.yaml`` form: defaults left out, secrets as references."""
        return self.model_dump(mode="json", exclude_defaults=True)

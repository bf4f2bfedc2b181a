"""The seam between runtimes and the rest: a runtime turns a ``LaunchSpec`` into a running ``Process``
whose stdin/stdout carry MCP's stdio transport.

Everything above (the stdio backend of ``transport/``, ``workloads/``) sees only this interface, so the
sandbox, docker, podman and kubernetes runtimes are interchangeable. Contract every runtime keeps:
``launch`` validates with :func:`check_spec` (ConfigError naming the field), refuses a name that is
already running (ConflictError) and raises UnavailableError with ``unavailable_reason()``'s text;
``cleanup`` is idempotent and also clears what a previous, crashed manager left under that name.
The returned process's stderr is a pipe: the caller must drain it.
"""

from __future__ import annotations

import asyncio
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from hivekeeper.errors import ConfigError

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


@dataclass(frozen=True)
class Limits:
    memory_bytes: int | None = None
    cpus: float | None = None
    pids: int | None = None


@dataclass(frozen=True)
class Mount:
    host: Path
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class EgressRule:
    """An allowed outbound destination: ``host`` may be ``*.example.com``; ``port`` None means any."""

    host: str
    port: int | None = None


@dataclass(frozen=True)
class LaunchSpec:
    name: str
    command: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    mounts: Sequence[Mount] = ()
    # None: no network at all. An empty tuple is the same. OPEN_EGRESS: unrestricted (profile "network").
    egress: Sequence[EgressRule] | None = None
    limits: Limits = Limits()
    workdir: str | None = None
    image: str | None = None  # container runtimes only


# JSON-RPC lines can be large (a tool returning a file); asyncio's default 64 KiB readline limit is not.
STREAM_LIMIT = 64 * 1024 * 1024

OPEN_EGRESS: tuple[EgressRule, ...] = (EgressRule(host="*"),)


def check_spec(spec: LaunchSpec) -> None:
    """Reject what no runtime can launch, naming the offending part (raises ConfigError)."""
    if not _NAME.match(spec.name):
        raise ConfigError(
            f"server name {spec.name!r}: use 1-63 of a-z, 0-9, '.', '_', '-', starting with a letter or digit"
        )
    if not spec.command and not spec.image:
        raise ConfigError(f"server {spec.name}: no command to run")
    for mount in spec.mounts:
        if not mount.target.startswith("/") or posixpath.normpath(mount.target) != mount.target.rstrip("/"):
            raise ConfigError(f"mount {mount.host}:{mount.target}: target must be an absolute, normalised path")
        if mount.target == "/":
            raise ConfigError(f"mount {mount.host}:/: cannot replace the root of the sandbox")
        if not mount.host.is_absolute() or not mount.host.exists():
            raise ConfigError(f"mount {mount.host}:{mount.target}: host path does not exist")
    limits = spec.limits
    for field_name, value in (("memory", limits.memory_bytes), ("cpus", limits.cpus), ("pids", limits.pids)):
        if value is not None and value <= 0:
            raise ConfigError(f"limits.{field_name}: must be positive, got {value}")


@runtime_checkable
class Process(Protocol):
    """A started MCP server speaking stdio. ``asyncio.subprocess.Process`` satisfies it."""

    @property
    def pid(self) -> int: ...

    @property
    def stdin(self) -> asyncio.StreamWriter | None: ...

    @property
    def stdout(self) -> asyncio.StreamReader | None: ...

    @property
    def stderr(self) -> asyncio.StreamReader | None: ...

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...


class DelegatingProcess:
    """A ``Process`` passing everything to another; wrappers override what they add to."""

    def __init__(self, process: Process) -> None:
        self._process = process

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def stdin(self) -> asyncio.StreamWriter | None:
        return self._process.stdin

    @property
    def stdout(self) -> asyncio.StreamReader | None:
        return self._process.stdout

    @property
    def stderr(self) -> asyncio.StreamReader | None:
        return self._process.stderr

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    async def wait(self) -> int:
        return await self._process.wait()

    def terminate(self) -> None:
        self._process.terminate()

    def kill(self) -> None:
        self._process.kill()


UNENFORCED_LIMITS = "resource limits (memory, cpus, pids) are NOT enforced"
"""How a runtime's ``caveats`` begin when it cannot apply the limits asked for (followed by why)."""


class Runtime(Protocol):
    name: str

    def unavailable_reason(self) -> str | None:
        """None when this runtime can start servers here; otherwise why not, in one line."""
        ...

    def caveats(self, limits: Limits) -> list[str]:
        """What of ``limits`` this runtime cannot enforce here, in words for the user; empty when all hold."""
        ...

    async def launch(self, spec: LaunchSpec) -> Process: ...

    async def cleanup(self, name: str) -> None:
        """Remove everything ``launch`` created for ``name`` (cgroups, netns, containers, temp dirs)."""
        ...

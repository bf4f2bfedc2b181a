"""The seam between runtimes and the rest: a runtime turns a ``LaunchSpec`` into a running ``Process``
whose stdin/stdout carry MCP's stdio transport.

Everything above (the stdio backend of ``transport/``, ``workloads/``) sees only this interface, so the
sandbox, docker, podman and kubernetes runtimes are interchangeable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable


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


OPEN_EGRESS: tuple[EgressRule, ...] = (EgressRule(host="*"),)


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


class Runtime(Protocol):
    name: str

    def unavailable_reason(self) -> str | None:
        """None when this runtime can start servers here; otherwise why not, in one line."""
        ...

    async def launch(self, spec: LaunchSpec) -> Process: ...

    async def cleanup(self, name: str) -> None:
        """Remove everything ``launch`` created for ``name`` (cgroups, netns, containers, temp dirs)."""
        ...

"""Which runtime starts a workload's processes. One instance of each per manager: the sandbox runtime
owns the egress proxy every sandbox shares."""

from __future__ import annotations

import asyncio
import importlib
import os
from typing import Final

from hivekeeper.errors import UnavailableError
from hivekeeper.runtime.base import STREAM_LIMIT, UNENFORCED_LIMITS, LaunchSpec, Limits, Process, Runtime

# name -> "module:Class"; imported on first use so a manager running only sandboxes never loads docker.
_IMPLEMENTATIONS: Final = {
    "sandbox": "hivekeeper.runtime.sandbox:SandboxRuntime",
    "docker": "hivekeeper.runtime.docker:DockerRuntime",
    "podman": "hivekeeper.runtime.podman:PodmanRuntime",
}


class ProcessRuntime:
    """No isolation at all: the server runs as the user, with the user's files and network. For servers
    you wrote yourself and for measuring what isolation costs; never the default."""

    name = "process"

    def unavailable_reason(self) -> str | None:
        return None

    def caveats(self, limits: Limits) -> list[str]:
        if limits == Limits():
            return []
        return [f"{UNENFORCED_LIMITS}: --runtime process does not isolate the server"]

    async def launch(self, spec: LaunchSpec) -> Process:
        return await asyncio.create_subprocess_exec(
            *spec.command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **spec.env},
            cwd=spec.workdir,
            limit=STREAM_LIMIT,
            start_new_session=True,  # a Ctrl-C in the terminal that started the manager must not reach it
        )

    async def cleanup(self, name: str) -> None:
        """Nothing outlives the process."""


class Runtimes:
    """The manager's runtimes, created on first use and checked for availability."""

    def __init__(self) -> None:
        self._created: dict[str, Runtime] = {"process": ProcessRuntime()}

    def get(self, name: str) -> Runtime:
        runtime = self._created.get(name)
        if runtime is None:
            target = _IMPLEMENTATIONS.get(name)
            if target is None:
                raise UnavailableError(f"unknown runtime {name!r} (choose sandbox, docker, podman or process)")
            module_name, class_name = target.split(":")
            try:
                runtime = getattr(importlib.import_module(module_name), class_name)()
            except ImportError as exc:
                raise UnavailableError(f"runtime {name} is not available in this build: {exc}") from None
            self._created[name] = runtime
        reason = runtime.unavailable_reason()
        if reason is not None:
            raise UnavailableError(f"runtime {name} is not available: {reason}")
        return runtime

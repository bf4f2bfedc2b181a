"""Helpers for runtime tests: launch a fixture server in a runtime and talk MCP to it."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import anyio
from mcp import Client

from hivekeeper.runtime.base import LaunchSpec, Mount, Process, Runtime
from hivekeeper.runtime.client import process_transport
from hivekeeper.runtime.mounts import interpreter_mounts

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ALLOWED_HOST = "allowed.test"


def python_spec(name: str, script: str, **fields: object) -> LaunchSpec:
    """Run a fixture script with this interpreter; the venv and fixtures are mounted read-only."""
    mounts = [*interpreter_mounts(Path(sys.executable)), Mount(host=FIXTURES, target=str(FIXTURES))]
    spec = LaunchSpec(name=name, command=[sys.executable, str(FIXTURES / script)], mounts=mounts)
    return replace(spec, **fields)  # type: ignore[arg-type]


@dataclass
class Running:
    process: Process
    client: Client

    async def call(self, tool: str, **arguments: object) -> str:
        with anyio.fail_after(30):
            result = await self.client.call_tool(tool, arguments)
        texts = [getattr(block, "text", "") for block in result.content]
        return "".join(texts)


@contextlib.asynccontextmanager
async def running(runtime: Runtime, spec: LaunchSpec) -> AsyncIterator[Running]:
    """Launch ``spec``, connect an MCP client over its stdio, and tear everything down afterwards."""
    process = await runtime.launch(spec)
    stderr_lines: list[bytes] = []

    async def drain_stderr() -> None:
        assert process.stderr is not None
        while line := await process.stderr.readline():
            stderr_lines.append(line)

    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(drain_stderr)
            async with Client(process_transport(process), read_timeout_seconds=30) as client:
                yield Running(process, client)
            tasks.cancel_scope.cancel()
    except BaseException:
        sys.stderr.write(b"".join(stderr_lines[-40:]).decode(errors="replace"))
        raise
    finally:
        await runtime.cleanup(spec.name)

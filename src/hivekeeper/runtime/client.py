"""Talk MCP to a server a runtime already launched: ``mcp.Client(process_transport(process))``.

The SDK's stdio client only spawns processes itself; sandboxed and containerised servers are started
by a runtime, so this adapts any :class:`~hivekeeper.runtime.base.Process` to the SDK's transport
streams (newline-delimited JSON-RPC over stdin/stdout). The process is not stopped on exit: its
runtime owns its lifetime.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import anyio
from mcp import types
from mcp.client._transport import TransportStreams
from mcp.shared.message import SessionMessage

from hivekeeper.runtime.base import Process

logger = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def process_transport(process: Process) -> AsyncIterator[TransportStreams]:
    stdin, stdout = process.stdin, process.stdout
    if stdin is None or stdout is None:
        raise ValueError("the process was launched without stdin/stdout pipes")
    incoming_writer, incoming = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    outgoing, outgoing_reader = anyio.create_memory_object_stream[SessionMessage](0)

    async def read_stdout() -> None:
        async with incoming_writer:
            while line := await stdout.readline():
                if not line.strip():
                    continue
                try:
                    message: SessionMessage | Exception = SessionMessage(
                        types.jsonrpc_message_adapter.validate_json(line, by_name=False)
                    )
                except ValueError as exc:
                    logger.warning("unparseable line from MCP server pid %s: %.200r", process.pid, line)
                    message = exc
                try:
                    await incoming_writer.send(message)
                except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                    return

    async def write_stdin() -> None:
        try:
            async with outgoing_reader:
                async for session_message in outgoing_reader:
                    payload = session_message.message.model_dump_json(by_alias=True, exclude_unset=True)
                    stdin.write(payload.encode() + b"\n")
                    await stdin.drain()
        except (ConnectionError, OSError):
            await incoming_writer.aclose()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(read_stdout)
        tasks.start_soon(write_stdin)
        try:
            yield incoming, outgoing
        finally:
            tasks.cancel_scope.cancel()
            for stream in (incoming, outgoing):
                await stream.aclose()

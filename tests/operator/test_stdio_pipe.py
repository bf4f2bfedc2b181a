"""The in-pod stdio bridge, for real: a shell-wrapped MCP server on FIFOs, an MCP client on the pipe."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from hivekeeper.errors import ConfigError
from hivekeeper.operator import stdio_pipe

ECHO_SERVER = Path(__file__).resolve().parents[1] / "fixtures" / "echo_server.py"


def _server_container(directory: Path) -> subprocess.Popen[bytes]:
    """What the pod's server container runs: the rendered /bin/sh wrapper around the server command."""
    return subprocess.Popen(
        ["/bin/sh", "-c", 'exec "$@" <"$0/in" >"$0/out"', str(directory), sys.executable, str(ECHO_SERVER)]
    )


async def test_client_calls_a_tool_through_the_fifos(tmp_path: Path) -> None:
    stdio_pipe.prepare(tmp_path)
    stdio_pipe.prepare(tmp_path)  # idempotent: the init container runs again after a pod restart
    server = _server_container(tmp_path)
    try:
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "hivekeeper", "kube", "stdio-pipe", str(tmp_path)]
        )
        async with Client(params) as client:
            tools = await client.list_tools()
            assert {tool.name for tool in tools.tools} >= {"echo", "add"}
            result = await client.call_tool("add", {"a": 2, "b": 40})
            assert "42" in str(result.content[0])
        assert server.wait(timeout=10) is not None  # the pipe closed the server's stdin: it ended
    finally:
        if server.poll() is None:
            server.kill()


def test_pipe_exits_1_when_the_server_goes_away(tmp_path: Path) -> None:
    stdio_pipe.prepare(tmp_path)
    # A "server" that exits at once: the pipe must report it so the proxy restarts its backend.
    server = subprocess.Popen(["/bin/sh", "-c", 'exec true <"$0/in" >"$0/out"', str(tmp_path)])
    read_end, write_end = os.pipe()
    try:
        assert stdio_pipe.run(tmp_path, stdin=read_end, stdout=os.open(os.devnull, os.O_WRONLY)) == 1
    finally:
        os.close(write_end)
        os.close(read_end)
        server.wait(timeout=10)


def test_prepare_refuses_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "in").write_text("not a fifo")
    with pytest.raises(ConfigError, match="is not a FIFO"):
        stdio_pipe.prepare(tmp_path)
    shutil.rmtree(tmp_path)
    with pytest.raises(ConfigError, match="no such FIFO"):
        stdio_pipe.run(tmp_path)

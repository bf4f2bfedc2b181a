"""Real MCP servers nobody here wrote (PyPI and npm) behind `hivekeeper proxy`, driven by the SDK's client
in both protocol eras: each lists its tools and answers a real call whose answer is checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from mcp import Client
from mcp_types import CallToolResult, TextContent

from tests.conftest import NODE_22_BIN, npm_tool, running_proxy

MODES = ("auto", "legacy")
# What each mode must negotiate through the proxy: `auto` gets the stateless era even from backends that
# speak only 2025-11-25 (the proxy translates), `legacy` forces the initialize handshake.
EXPECTED_VERSION = {"auto": "2026-07-28", "legacy": "2025-11-25"}


def _text(result: CallToolResult) -> str:
    assert not result.is_error, result
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


@dataclass(frozen=True)
class RealServer:
    """A real server's command line, a few tools it must list, and a real call with its checked answer."""

    command: list[str]
    tools: set[str]
    check: Callable[[Client], Awaitable[None]]


def _python_console_script(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _node(name: str) -> list[str]:
    # The npm servers' shebang is `env node`: pin it to the node the test tools were installed for.
    return [str(NODE_22_BIN / "node"), str(npm_tool(name).resolve())]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository with one commit and one file of fresh content, for the git and filesystem servers."""
    root = tmp_path_factory.mktemp("interop-workspace")
    (root / "note.txt").write_text(f"note {uuid.uuid4()}\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    for args in (["init", "-q"], ["add", "note.txt"], ["commit", "-q", "-m", f"interop commit {uuid.uuid4()}"]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True)
    return root


def _servers(workspace: Path) -> dict[str, RealServer]:
    note = workspace / "note.txt"
    head = subprocess.run(["git", "log", "-1", "--format=%H %s"], cwd=workspace, capture_output=True, text=True)
    sha, subject = head.stdout.strip().split(" ", 1)

    async def current_time(client: Client) -> None:
        answer = json.loads(_text(await client.call_tool("get_current_time", {"timezone": "Asia/Tokyo"})))
        assert answer["timezone"] == "Asia/Tokyo"
        reported = datetime.fromisoformat(answer["datetime"])
        assert reported.utcoffset() == timedelta(hours=9)
        assert abs(reported - datetime.now(UTC)) < timedelta(minutes=2)

    async def git_log(client: Client) -> None:
        log = _text(await client.call_tool("git_log", {"repo_path": str(workspace), "max_count": 1}))
        assert sha in log and subject in log

    async def everything_sum_and_echo(client: Client) -> None:
        assert "17" in _text(await client.call_tool("get-sum", {"a": 8, "b": 9}))
        word = uuid.uuid4().hex
        assert _text(await client.call_tool("echo", {"message": word})) == f"Echo: {word}"

    async def read_note(client: Client) -> None:
        assert _text(await client.call_tool("read_text_file", {"path": str(note)})) == note.read_text()

    return {
        "mcp-server-time": RealServer(
            [_python_console_script("mcp-server-time"), "--local-timezone", "UTC"],
            {"get_current_time", "convert_time"},
            current_time,
        ),
        "mcp-server-git": RealServer(
            [_python_console_script("mcp-server-git"), "--repository", str(workspace)],
            {"git_status", "git_log", "git_diff", "git_show"},
            git_log,
        ),
        "server-everything": RealServer(
            [*_node("mcp-server-everything"), "stdio"], {"echo", "get-sum", "get-tiny-image"}, everything_sum_and_echo
        ),
        "server-filesystem": RealServer(
            [*_node("mcp-server-filesystem"), str(workspace)],
            {"read_text_file", "list_directory", "write_file"},
            read_note,
        ),
    }


@pytest.fixture(scope="module", params=["mcp-server-time", "mcp-server-git", "server-everything", "server-filesystem"])
def proxied(
    request: pytest.FixtureRequest, workspace: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RealServer, str]]:
    server = _servers(workspace)[request.param]
    with running_proxy("--", *server.command, logs=tmp_path_factory.mktemp(request.param)) as url:
        yield server, url


@pytest.mark.parametrize("mode", MODES)
async def test_real_server_works_through_the_proxy(proxied: tuple[RealServer, str], mode: str) -> None:
    server, url = proxied
    async with Client(url, mode=mode) as client:
        assert client.protocol_version == EXPECTED_VERSION[mode]
        listed = {tool.name for tool in (await client.list_tools()).tools}
        assert server.tools <= listed, f"missing tools: {server.tools - listed}"
        await server.check(client)

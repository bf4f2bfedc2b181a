"""The official MCP Inspector CLI (an independent TypeScript client) lists and calls tools through the proxy."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ECHO_SERVER, node_env, npm_tool, running_proxy


@pytest.fixture(scope="module")
def proxy_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_proxy("--", *ECHO_SERVER, logs=tmp_path_factory.mktemp("inspector")) as url:
        yield url


def inspector(*args: str) -> Any:
    """Run the Inspector CLI (`mcp-inspector --cli ARGS`) and return the JSON it prints."""
    command = [str(npm_tool("mcp-inspector")), "--cli", *args]
    completed = subprocess.run(command, env=node_env(), capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr[-2000:]
    return json.loads(completed.stdout)


def test_inspector_lists_tools_through_the_proxy(proxy_url: str) -> None:
    listed = inspector(proxy_url, "--transport", "http", "--method", "tools/list")
    schemas = {tool["name"]: tool["inputSchema"] for tool in listed["tools"]}
    assert schemas.keys() == {"echo", "add"}
    assert schemas["add"]["required"] == ["a", "b"]


def call_tool(target: list[str], tool: str, **arguments: object) -> Any:
    """`tools/call` through the Inspector CLI; `target` is a URL and its transport, or a stdio command."""
    tool_args = [part for name, value in arguments.items() for part in ("--tool-arg", f"{name}={value}")]
    return inspector(*target, "--method", "tools/call", "--tool-name", tool, *tool_args)


def test_inspector_calls_tools_through_the_proxy(proxy_url: str) -> None:
    total = call_tool([proxy_url, "--transport", "http"], "add", a=19, b=23)
    assert total["isError"] is False
    assert total["content"] == [{"type": "text", "text": "42"}]
    word = uuid.uuid4().hex
    echoed = call_tool([proxy_url, "--transport", "http"], "echo", text=word)
    assert echoed["content"] == [{"type": "text", "text": word}]


def test_inspector_through_the_stdio_front(proxy_url: str) -> None:
    """`hivekeeper proxy stdio URL`, the front for clients that only launch stdio servers, in front of the proxy."""
    front = [str(Path(sys.executable).with_name("hivekeeper")), "proxy", "stdio", proxy_url]
    assert call_tool(front, "add", a=-5, b=8)["content"] == [{"type": "text", "text": "3"}]

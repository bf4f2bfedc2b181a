"""Backends from this host's workloads: real workloads started and stopped through the CLI and a real
manager, a gateway following them by group membership and by name, list_changed reaching the client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from hivekeeper.errors import ConfigError
from hivekeeper.gateway.app import Gateway
from hivekeeper.gateway.config import GatewayConfig
from hivekeeper.transport.remote import HttpBackend
from hivekeeper.workloads.control import ManagerClient
from tests.gateway.gateway_helpers import serve_gateway
from tests.workloads.workload_helpers import hk_process, manager_pid, stop_manager


@pytest.fixture
def manager(hivekeeper_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ManagerClient]:
    """A real manager daemon in this test's home, stopped (and its workloads with it) afterwards."""
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("HIVEKEEPER_SECRETS_PASSPHRASE", "gateway-tests-passphrase")
    client = ManagerClient().ensure_running()
    yield client
    with contextlib.suppress(Exception):
        stop_manager(manager_pid())


async def hk(command: str, *args: str) -> dict[str, Any]:
    """The CLI as a user runs it, off the event loop (the gateway under test keeps serving meanwhile)."""
    result = await asyncio.to_thread(hk_process, command, "--json", *args)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout)) if result.stdout.strip().startswith("{") else {}


# A stdlib-only MCP server (tools echo, env, crash) that starts in milliseconds, so workloads come up fast.
TINY = [sys.executable, str(Path(__file__).parent.parent / "workloads" / "fixtures" / "tiny_server.py")]


async def run_tiny(name: str, group: str) -> dict[str, Any]:
    return await hk("run", "--runtime", "process", "--name", name, "--group", group, "--", *TINY)


def texts(result: Any) -> list[str]:
    return [block.text for block in result.content]


async def tool_names(client: Client) -> set[str]:
    return {tool.name for tool in (await client.list_tools()).tools}


async def until(predicate: Any, timeout: float = 15.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if value := await predicate():
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout} s")


async def test_group_members_come_and_go_with_their_workloads(manager: ManagerClient, tmp_path: Path) -> None:
    started = await asyncio.gather(run_tiny("alpha", "team"), run_tiny("beta", "team"), run_tiny("out", "other"))
    config = {
        "name": "gw",
        "group": "team",
        # A declared backend standing for workload alpha takes that name: the group does not add it twice.
        "backends": [{"name": "alpha", "workload": "alpha", "tools": {"allow": ["echo"], "rename": {"echo": "say"}}}],
        "integrity": {"directory": str(tmp_path / "integrity")},
    }
    received: list[str] = []

    async def on_message(message: Any) -> None:
        received.append(repr(message))

    async with (
        serve_gateway(config) as (url, gateway),
        Client(f"{url}/mcp", mode="legacy", message_handler=on_message) as client,
    ):
        # The group's workloads only, each reached at the URL its state file gives; declared ones first.
        assert await tool_names(client) == {"alpha_say", "beta_echo", "beta_env", "beta_crash"}
        assert [(row["name"], row["up"]) for row in gateway.catalog.status()] == [("alpha", True), ("beta", True)]
        alpha = gateway.catalog.members["alpha"].backend
        assert isinstance(alpha, HttpBackend) and alpha.url == started[0]["url"]
        assert texts(await client.call_tool("alpha_say", {"text": "hi"})) == ["hi"]

        # A workload started in the group joins, and this session hears about it.
        await run_tiny("gamma", "team")
        assert await until(lambda: _has(client, "gamma_echo"))
        assert any("tools/list_changed" in message for message in received), received
        assert texts(await client.call_tool("gamma_echo", {"text": "hi"})) == ["hi"]

        # A stopped group member leaves: its tools go, calls name the tool as unknown, the rest keeps serving.
        received.clear()
        await hk("stop", "beta")
        assert await until(lambda: _lacks(client, "beta_echo"))
        assert await tool_names(client) == {"alpha_say", "gamma_echo", "gamma_env", "gamma_crash"}
        assert any("tools/list_changed" in message for message in received), received
        with pytest.raises(MCPError, match="unknown tool 'beta_echo'"):
            await client.call_tool("beta_echo", {"text": "x"})

        # A declared one stays when its workload stops, its calls failing with an error naming it.
        await hk("stop", "alpha")
        with pytest.raises(MCPError, match="backend alpha"):
            await client.call_tool("alpha_say", {"text": "x"})
        assert texts(await client.call_tool("gamma_echo", {"text": "still"})) == ["still"]
        assert list(gateway.catalog.members) == ["alpha", "gamma"]


def test_unknown_workload_is_rejected_naming_the_backend(hivekeeper_home: Path) -> None:
    config = GatewayConfig.model_validate({"backends": [{"name": "db", "workload": "nope"}]})
    with pytest.raises(ConfigError, match=r"backend db: workload: no workload named 'nope' on this host"):
        Gateway(config)
    with pytest.raises(ValueError, match="give backends, a group, or both"):
        GatewayConfig.model_validate({"name": "gw"})
    with pytest.raises(ValueError, match="give exactly one of command, url or workload"):
        GatewayConfig.model_validate({"backends": [{"name": "db", "workload": "db", "url": "http://127.0.0.1:1/mcp"}]})


async def _has(client: Client, name: str) -> bool:
    return name in await tool_names(client)


async def _lacks(client: Client, name: str) -> bool:
    return name not in await tool_names(client)

"""Tool search through the gateway (meta-tools mode), with a real SDK client and Cedar in the chain."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from hivekeeper.auth.apikeys import digest
from hivekeeper.gateway.app import build_backend
from hivekeeper.gateway.catalog import Member
from hivekeeper.gateway.config import BackendConfig
from hivekeeper.search import ToolIndex
from hivekeeper.secrets import SecretStore
from tests.conftest import ECHO_SERVER
from tests.gateway.gateway_helpers import serve_gateway

POLICY = """
permit(principal, action == Action::"list_tools", resource);
permit(principal, action == Action::"call_tool", resource);
forbid(principal == User::"bob", action == Action::"call_tool", resource == Tool::"echo_add");
"""


def keyed(url: str, key: str) -> Any:
    return streamable_http_client(url, http_client=httpx2.AsyncClient(headers={"x-api-key": key}))


def found_tools(result: Any) -> list[dict[str, Any]]:
    """The tools a find_tools answer lists."""
    return list(json.loads(result.content[0].text)["tools"])


def found(result: Any) -> list[str]:
    return [tool["name"] for tool in found_tools(result)]


async def test_meta_tools_find_and_call_within_policy(tmp_path: Path, hivekeeper_home: Path) -> None:
    config = {
        "backends": [{"name": "echo", "command": ECHO_SERVER}],
        "auth": {
            "api_keys": [{"name": "alice", "sha256": digest("a-key")}, {"name": "bob", "sha256": digest("b-key")}]
        },
        "authorization": {"policy": POLICY},
        "search": {"k": 1, "pinned": ["echo_echo"]},
        "integrity": {"directory": str(tmp_path / "integrity")},
        "audit": {"file": str(tmp_path / "audit.ndjson")},
    }
    async with serve_gateway(config) as (url, _):
        async with Client(keyed(f"{url}/mcp", "a-key")) as alice:
            assert [tool.name for tool in (await alice.list_tools()).tools] == ["find_tools", "call_tool", "echo_echo"]
            result = await alice.call_tool("find_tools", {"query": "add two integers together"})
            assert found(result) == ["echo_add"]
            tool = found_tools(result)[0]
            assert tool["inputSchema"]["required"] == ["a", "b"] and tool["server"] == "echo"
            called = await alice.call_tool("call_tool", {"tool": "echo_add", "arguments": {"a": 2, "b": 3}})
            assert [block.text for block in called.content] == ["5"]  # type: ignore[union-attr]
            with pytest.raises(MCPError, match="find_tools: the query must be a non-empty string"):
                await alice.call_tool("find_tools", {"query": " "})
            with pytest.raises(MCPError, match="find_tools: k must be an integer from 1 to 50"):
                await alice.call_tool("find_tools", {"query": "add", "k": 0})
            with pytest.raises(MCPError, match="unknown tool 'nope'"):
                await alice.call_tool("call_tool", {"tool": "nope"})
        async with Client(keyed(f"{url}/mcp", "b-key")) as bob:
            assert "echo_add" not in found(await bob.call_tool("find_tools", {"query": "add two integers", "k": 5}))
            with pytest.raises(MCPError, match="denied by policy: bob may not call_tool 'echo_add'"):
                await bob.call_tool("call_tool", {"tool": "echo_add", "arguments": {"a": 1, "b": 1}})

        # Prompt-aware selection: the host passes the user's request and gets the chosen definitions.
        async with httpx.AsyncClient(base_url=url) as http:
            chat = {"messages": [{"role": "user", "content": "please add two integers"}], "k": 1}
            chosen = await http.post("/gateway/select", json=chat, headers={"x-api-key": "a-key"})
            assert [tool["name"] for tool in chosen.json()["tools"]] == ["echo_add", "echo_echo"]  # + the pinned one
            assert chosen.json()["tools"][0]["inputSchema"]["required"] == ["a", "b"]
            for_bob = await http.post("/gateway/select", json=chat, headers={"x-api-key": "b-key"})
            assert [tool["name"] for tool in for_bob.json()["tools"]] == ["echo_echo"]  # pinned; add is forbidden
            assert (await http.post("/gateway/select", json=chat)).status_code == 401
            bad = await http.post("/gateway/select", json={"request": ""}, headers={"x-api-key": "a-key"})
            assert (bad.status_code, bad.json()["error"]) == (
                400,
                "tools/list _meta: the query must be a non-empty string",
            )
            meta = {"io.hivekeeper/request": "echo this text back", "io.hivekeeper/k": 1}
            listed = await _rpc(http, "tools/list", {"_meta": meta}, "a-key")
            assert [tool["name"] for tool in listed["result"]["tools"]] == ["echo_echo"]
    audit = [json.loads(line) for line in (tmp_path / "audit.ndjson").read_text().splitlines()]
    calls = [(e["subject"], e["target"], e["outcome"]) for e in audit if e["method"] == "tools/call"]
    assert ("alice", "echo_add", "ok") in calls  # audited as the real tool, not as call_tool
    assert ("bob", "echo_add", "denied") in calls
    assert next(e for e in audit if e["target"] == "find_tools" and e["subject"] == "alice")["found"] == ["echo_add"]


async def test_dynamic_mode_exposes_found_tools_to_that_session(tmp_path: Path, hivekeeper_home: Path) -> None:
    config = {
        "backends": [{"name": "echo", "command": ECHO_SERVER}],
        "search": {"mode": "dynamic", "k": 1},
        "integrity": {"directory": str(tmp_path / "integrity")},
    }
    received: list[str] = []

    async def on_message(message: Any) -> None:
        received.append(repr(message))

    async with serve_gateway(config) as (url, _):
        async with Client(f"{url}/mcp", mode="legacy", message_handler=on_message) as client:
            assert [tool.name for tool in (await client.list_tools()).tools] == ["find_tools", "call_tool"]
            assert found(await client.call_tool("find_tools", {"query": "add two integers together"})) == ["echo_add"]
            assert any("tools/list_changed" in message for message in received), received
            listed = [tool.name for tool in (await client.list_tools()).tools]
            assert listed == ["find_tools", "call_tool", "echo_add"]
            direct = await client.call_tool("echo_add", {"a": 4, "b": 5})
            assert [block.text for block in direct.content] == ["9"]  # type: ignore[union-attr]
        async with Client(f"{url}/mcp", mode="legacy") as other:  # another session found nothing yet
            assert [tool.name for tool in (await other.list_tools()).tools] == ["find_tools", "call_tool"]


async def _rpc(http: httpx.AsyncClient, method: str, params: dict[str, Any], key: str) -> Any:
    envelope = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    params = {**params, "_meta": {**params.get("_meta", {}), **envelope}}
    headers = {"x-api-key": key, "mcp-protocol-version": "2026-07-28", "mcp-method": method}
    headers["accept"] = "application/json, text/event-stream"
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    return (await http.post("/mcp", json=body, headers=headers)).json()


ONLY_D_ECHO = """
permit(principal, action == Action::"list_tools", resource);
permit(principal, action == Action::"call_tool", resource == Tool::"d_echo");
"""
# A stdlib-only stdio server (echo, env, crash) that starts in milliseconds: groups of them are cheap.
TINY = [sys.executable, str(Path(__file__).parent.parent / "workloads" / "fixtures" / "tiny_server.py")]


class CountingIndex(ToolIndex):
    """The real index, counting how often the gateway asks it to re-index."""

    updates = 0

    def update_servers(self, *args: Any, **kwargs: Any) -> bool:
        self.updates += 1
        return super().update_servers(*args, **kwargs)


async def test_few_allowed_tools_still_fill_k_and_the_index_follows_changes_only(
    tmp_path: Path, hivekeeper_home: Path
) -> None:
    # Four backends with the same tools: "env" ranks first four times over for an environment question, so
    # a caller allowed only d_echo must still get it (searching k*4 and then filtering would give nothing).
    config = {
        "backends": [{"name": name, "command": TINY} for name in "abcd"],
        "authorization": {"policy": ONLY_D_ECHO},
        "search": {"k": 1},
        "integrity": {"directory": str(tmp_path / "integrity")},
    }
    query = {"query": "read an environment variable"}
    async with serve_gateway(config) as (url, gateway):
        assert gateway.search is not None
        index = gateway.search.index = CountingIndex(cache_dir=hivekeeper_home / "search")
        async with Client(f"{url}/mcp") as client:
            assert found(await client.call_tool("find_tools", query)) == ["d_echo"]
            assert found(await client.call_tool("find_tools", {**query, "k": 3})) == ["d_echo"]
            assert found(await client.call_tool("find_tools", {"query": "return the text"})) == ["d_echo"]
            assert index.updates == 1  # the lists did not change between calls: indexed once
            assert sorted(hit.name for hit in index.search(query["query"], k=4)) == ["a_env", "b_env", "c_env", "d_env"]

            # A backend joins: the next search re-indexes once and sees it; one leaves: its tools go.
            await gateway.catalog.add(Member(build_backend(BackendConfig(name="e", command=TINY), SecretStore([]))))
            await client.call_tool("find_tools", query)
            assert (index.updates, len(index), sorted(index.servers)) == (2, 15, ["a", "b", "c", "d", "e"])
            await gateway.catalog.remove("a")
            await client.call_tool("find_tools", query)
            assert (index.updates, len(index), sorted(index.servers)) == (3, 12, ["b", "c", "d", "e"])

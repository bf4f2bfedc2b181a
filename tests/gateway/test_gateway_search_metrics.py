"""Token accounting of tool search: every selection (find_tools in meta and dynamic mode, prompt-aware
tools/list, POST /gateway/select) reports its cl100k cost against the caller's whole list, and /metrics counts
exactly that. Real gateways over real stdio MCP servers, real SDK and HTTP clients, /metrics scraped for real."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from prometheus_client.parser import text_string_to_metric_families

from hivekeeper.auth.apikeys import digest
from hivekeeper.search import ListTokens, tools_tokens
from tests.conftest import ECHO_SERVER
from tests.gateway.gateway_helpers import serve_gateway
from tests.gateway.test_gateway_search import _rpc, found

CATALOG = Path(__file__).parent.parent / "search" / "catalog_fixture.json"  # real servers' tool definitions
TINY = [sys.executable, str(Path(__file__).parent.parent / "workloads" / "fixtures" / "tiny_server.py")]
TOKENS = "io.hivekeeper/tokens"
# bob may not see (so not find, nor pay for) the echo server's add
POLICY = """
permit(principal, action == Action::"list_tools", resource);
permit(principal, action == Action::"call_tool", resource);
forbid(principal == User::"bob", action == Action::"call_tool", resource == Tool::"echo_add");
"""
KEYS = {"alice": "a-key", "bob": "b-key"}


def group(tmp_path: Path, search: dict[str, Any] | None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "backends": [{"name": "echo", "command": ECHO_SERVER}, {"name": "t", "command": TINY}],
        "auth": {"api_keys": [{"name": name, "sha256": digest(key)} for name, key in KEYS.items()]},
        "authorization": {"policy": POLICY},
        "integrity": {"directory": str(tmp_path / "integrity")},
    }
    return config if search is None else {**config, "search": search}


def keyed(url: str, who: str) -> Any:
    return streamable_http_client(f"{url}/mcp", http_client=httpx2.AsyncClient(headers={"x-api-key": KEYS[who]}))


class Scrape:
    """One /metrics scrape: sample values by name and labels."""

    def __init__(self, text: str) -> None:
        self.samples = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def value(self, name: str, **labels: str) -> float:
        return self.samples.get((name, tuple(sorted(labels.items()))), 0.0)

    def search(self, mode: str) -> dict[str, float]:
        prefix = "hivekeeper_gateway_search"
        return {
            "selections": self.value(f"{prefix}_selections_total", mode=mode),
            "selected": self.value(f"{prefix}_selected_tokens_total", mode=mode),
            "full": self.value(f"{prefix}_full_tokens_total", mode=mode),
            "timed": self.value(f"{prefix}_duration_seconds_count", mode=mode),
            "reductions": self.value(f"{prefix}_token_reduction_ratio_count", mode=mode),
            "reduction_sum": self.value(f"{prefix}_token_reduction_ratio_sum", mode=mode),
        }


async def scrape(url: str) -> Scrape:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{url}/metrics")
        response.raise_for_status()
        return Scrape(response.text)


def moved(before: Scrape, after: Scrape, mode: str) -> dict[str, float]:
    start, end = before.search(mode), after.search(mode)
    return {key: end[key] - start[key] for key in end}


def expected(reported: list[dict[str, int]]) -> dict[str, Any]:
    """What selections reporting these token counts must have added to the metrics."""
    return {
        "selections": len(reported),
        "selected": sum(t["selected"] for t in reported),
        "full": sum(t["full"] for t in reported),
        "timed": len(reported),
        "reductions": len(reported),
        "reduction_sum": pytest.approx(sum(1 - t["selected"] / t["full"] for t in reported)),
    }


async def whole_lists(tmp_path: Path) -> dict[str, list[dict[str, Any]]]:
    """What each caller is listed by the same group without search: the cost search is measured against."""
    lists = {}
    async with serve_gateway(group(tmp_path, None)) as (url, _), httpx.AsyncClient(base_url=url) as http:
        for who, key in KEYS.items():
            lists[who] = (await _rpc(http, "tools/list", {}, key))["result"]["tools"]
    assert len(lists["alice"]) == 5 and len(lists["bob"]) == 4
    return lists


async def test_find_tools_selections_count_their_tokens_against_the_callers_list(
    tmp_path: Path, hivekeeper_home: Path
) -> None:
    whole = await whole_lists(tmp_path)
    async with serve_gateway(group(tmp_path, {"k": 2})) as (url, _):
        before = await scrape(url)
        reported = []
        for who, query in [("alice", "add two integers"), ("bob", "add two integers"), ("alice", "environment")]:
            async with Client(keyed(url, who)) as client:
                result = await client.call_tool("find_tools", {"query": query})
                assert result.meta is not None
                tokens = result.meta[TOKENS]
                by_name = {tool["name"]: tool for tool in whole[who]}
                selected = [by_name[name] for name in found(result)]
                assert len(selected) == 2
                assert tokens == {"selected": tools_tokens(selected), "full": tools_tokens(whole[who])}
                reported.append(tokens)
                with pytest.raises(MCPError, match="the query must be a non-empty string"):
                    await client.call_tool("find_tools", {"query": ""})  # refused: not a selection, not counted
        after = await scrape(url)
    assert reported[0]["full"] > reported[1]["full"] > reported[0]["selected"]  # bob's list lacks echo_add
    assert moved(before, after, "meta") == expected(reported)
    assert moved(before, after, "prompt")["selections"] == 0


async def test_dynamic_find_tools_and_prompt_aware_lists_are_counted_per_mode(
    tmp_path: Path, hivekeeper_home: Path
) -> None:
    whole = await whole_lists(tmp_path)
    async with serve_gateway(group(tmp_path, {"mode": "dynamic", "k": 1, "pinned": ["t_echo"]})) as (url, _):
        before = await scrape(url)
        async with Client(keyed(url, "alice"), mode="legacy") as client:
            result = await client.call_tool("find_tools", {"query": "add two integers together"})
            assert found(result) == ["echo_add"] and result.meta is not None
            dynamic = [result.meta[TOKENS]]
        # Prompt-aware: the answer is the list the host sends, pinned tool included, so that is what it costs.
        prompt = []
        async with httpx.AsyncClient(base_url=url) as http:
            meta = {"io.hivekeeper/request": "read an environment variable", "io.hivekeeper/k": 1}
            listed = (await _rpc(http, "tools/list", {"_meta": meta}, KEYS["bob"]))["result"]
            assert [tool["name"] for tool in listed["tools"]] == ["t_env", "t_echo"]
            assert listed["_meta"][TOKENS] == {
                "selected": tools_tokens(listed["tools"]),
                "full": tools_tokens(whole["bob"]),
            }
            prompt.append(listed["_meta"][TOKENS])
            chat = {"messages": [{"role": "user", "content": "please add two integers"}], "k": 2}
            chosen = (await http.post("/gateway/select", json=chat, headers={"x-api-key": KEYS["alice"]})).json()
            assert [tool["name"] for tool in chosen["tools"]][:1] == ["echo_add"] and len(chosen["tools"]) == 3
            assert chosen["tokens"] == {"selected": tools_tokens(chosen["tools"]), "full": tools_tokens(whole["alice"])}
            prompt.append(chosen["tokens"])
            for bad in ({"request": " "}, {"k": 2}):  # refused: not selections, not counted
                refused = await http.post("/gateway/select", json=bad, headers={"x-api-key": KEYS["alice"]})
                assert refused.status_code == 400, refused.text
            assert refused.json() == {"error": 'bad request body: give the user\'s "request" or the chat "messages"'}
        after = await scrape(url)
    assert moved(before, after, "dynamic") == expected(dynamic)
    assert moved(before, after, "prompt") == expected(prompt)
    assert moved(before, after, "meta")["selections"] == 0
    assert 0 < prompt[0]["selected"] < prompt[0]["full"]


def test_list_counts_add_up_to_counting_the_whole_list() -> None:
    tools = [
        {**tool, "name": f"{entry['server']}_{tool['name']}"}
        for entry in json.loads(CATALOG.read_text())
        for tool in entry["tools"]
    ]
    counter = ListTokens()
    pick = random.Random(5)
    for size in (0, 1, 2, 3, 7, len(tools)):
        for _ in range(4):
            chosen = pick.sample(tools, size)
            assert counter.count(chosen) == tools_tokens(chosen)
    # A definition that changes under the same name is counted anew (a rug pull changes what a list costs).
    changed = [*tools[:2], {**tools[2], "description": tools[2]["description"] + " And more words."}, *tools[3:]]
    assert counter.count(changed) == tools_tokens(changed) > tools_tokens(tools)
    counter.keep({tool["name"] for tool in tools[1:]})
    assert counter.count(tools) == tools_tokens(tools)

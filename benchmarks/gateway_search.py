#!/usr/bin/env python3
"""The gateway's tool-search link on a large group: ``find_tools`` as the link runs it now (index synced
only when the group's tools change; search limited to the backends the caller may use, widened until k
allowed hits) beside the previous way (re-hash every backend on every call, search k*4, then filter), in
one run, for a caller allowed everything and one allowed a few tools.

    .venv/bin/python benchmarks/gateway_search.py [--data /work/shared/toolsearch] [--calls 200]

The catalogue is shared data (``catalog.json`` of the tool-search folder), not part of a clone: without
it the benchmark says so and exits 3. Only the link and the index run; no backends, no HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from hivekeeper.gateway.chain import Call, Result
from hivekeeper.gateway.config import SearchConfig
from hivekeeper.gateway.search import ToolSearch
from hivekeeper.search import ListTokens, ToolIndex, tools_tokens
from hivekeeper.search.catalog import load_catalog

DEFAULT_DATA = Path(os.environ.get("TOOLSEARCH_DATA", "/work/shared/toolsearch"))
QUERIES = [
    "read a file from disk",
    "create a github issue",
    "send a slack message to a channel",
    "search the web for news",
    "query a postgres database",
    "get the weather forecast",
    "list my calendar events",
    "convert currency rates",
]
K = 5


class Group:
    """A group's merged tools, as the gateway's catalog hands them to the link."""

    def __init__(self, tools: dict[str, list[dict[str, Any]]]) -> None:
        self.generation = 1
        self._tools = tools

    def tools_by_backend(self) -> dict[str, list[dict[str, Any]]]:
        return self._tools


def _tools_of(result: Any) -> list[dict[str, Any]]:
    """A catalogue entry is a tools/list result or its bare tools list."""
    tools = result.get("tools", []) if isinstance(result, dict) else result
    return [tool for tool in tools if isinstance(tool, dict) and isinstance(tool.get("name"), str)]


def previous_way(index: ToolIndex, group: Group, query: str, allowed: set[str]) -> int:
    index.update_servers(group.tools_by_backend())
    return len([hit for hit in index.search(query, k=K * 4) if hit.name in allowed][:K])


def measure(run: Callable[[str], Awaitable[int]], calls: int) -> tuple[float, float, float]:
    """p50 ms, p99 ms, mean number of tools returned."""

    async def go() -> tuple[list[float], list[int]]:
        times, counts = [], []
        await run(QUERIES[-1])  # warm-up: the link's first call syncs the index once
        for i in range(calls):
            start = time.perf_counter()
            counts.append(await run(QUERIES[i % len(QUERIES)]))
            times.append((time.perf_counter() - start) * 1000)
        return times, counts

    times, counts = asyncio.run(go())
    cuts = statistics.quantiles(times, n=100)
    return statistics.median(times), cuts[98], statistics.mean(counts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    if not (args.data / "catalog.json").exists():
        print(f"catalogue not found in {args.data} (shared data, not part of a clone); pass --data", file=sys.stderr)
        return 3
    catalog = load_catalog(args.data / "catalog.json")
    group = Group(
        {
            server: [{**tool, "name": f"{server}_{tool['name']}"} for tool in _tools_of(result)]
            for server, result in catalog.tools.items()
        }
    )
    everything = {tool["name"] for tools in group.tools_by_backend().values() for tool in tools}
    few = set(random.Random(7).sample(sorted(everything), 40))
    with tempfile.TemporaryDirectory() as cache:
        index = ToolIndex(cache_dir=Path(cache))
        index.update_servers(group.tools_by_backend())  # both ways start from a built index
        link = ToolSearch(SearchConfig(k=K), index, group)

        def caller(allowed: set[str]) -> Callable[[str], Awaitable[int]]:
            listed = [tool for tools in group.tools_by_backend().values() for tool in tools if tool["name"] in allowed]

            async def listing(_: Call) -> Result:
                return {"tools": listed}

            async def run(query: str) -> int:
                call = Call("tools/call", {"name": "find_tools", "arguments": {"query": query, "k": K}})
                result = await link(call, listing)
                return len(result["structuredContent"]["tools"])

            return run

        def before(allowed: set[str]) -> Callable[[str], Awaitable[int]]:
            async def run(query: str) -> int:
                return previous_way(index, group, query, allowed)

            return run

        print(f"{len(everything):,} tools in {len(group.tools_by_backend())} backends, k={K}, {args.calls} calls each")
        print(f"{'caller':<22}{'way':<10}{'p50 ms':>9}{'p99 ms':>9}{'tools returned':>16}")
        for label, allowed in (("allowed everything", everything), (f"allowed {len(few)} tools", few)):
            rows = {"previous": measure(before(allowed), args.calls), "now": measure(caller(allowed), args.calls)}
            for way, (p50, p99, returned) in rows.items():
                print(f"{label:<22}{way:<10}{p50:>9.2f}{p99:>9.2f}{returned:>16.2f}")
            print(f"{'':<22}{'ratio':<10}{rows['previous'][0] / rows['now'][0]:>8.1f}x faster at p50")
    token_accounting([tool for tools in group.tools_by_backend().values() for tool in tools])
    return 0


def token_accounting(tools: list[dict[str, Any]]) -> None:
    """What the token cost of a caller's whole list (what every selection is measured against) takes to count
    when the group changes: tokenising it whole beside the link's ``ListTokens``, which recounts only the
    definitions it has not counted before."""

    def ms(count: Callable[[], int]) -> tuple[float, int]:
        started = time.perf_counter()
        tokens = count()
        return (time.perf_counter() - started) * 1000, tokens

    counter = ListTokens()
    middle = len(tools) // 2
    changed = [*tools[:middle], {**tools[middle], "description": "Changed."}, *tools[middle + 1 :]]
    whole, whole_tokens = ms(lambda: tools_tokens(changed))
    cold, _ = ms(lambda: counter.count(tools))
    warm, warm_tokens = ms(lambda: counter.count(changed))
    assert warm_tokens == whole_tokens, (warm_tokens, whole_tokens)  # the same count, exactly
    print(f"whole-list token count ({whole_tokens:,} cl100k tokens), after one definition changed:")
    print(f"  tokenised whole {whole:9.1f} ms   ListTokens {warm:7.2f} ms   {whole / warm:6.0f}x faster")
    print(f"  (ListTokens from nothing: {cold:.1f} ms)")


if __name__ == "__main__":
    sys.exit(main())

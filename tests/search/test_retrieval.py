"""Retrieval behaviour of ToolIndex over real tools/list output."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from hivekeeper.errors import ConfigError
from hivekeeper.search import ToolIndex


def keys(hits: list[Any]) -> list[tuple[str, str]]:
    return [hit.key for hit in hits]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("list everything in the ~/projects directory", ("filesystem", "list_directory")),
        ("post 'deploy done' to the #releases channel", ("slack", "slack_post_message")),
        ("what time is it in Tokyo right now?", ("time", "get_current_time")),
        ("commit the staged changes with message 'fix typo'", ("git", "git_commit")),
        ("add an observation to the knowledge graph: Dana prefers async updates", ("memory", "add_observations")),
    ],
)
def test_finds_the_tool_a_request_needs(index: ToolIndex, query: str, expected: tuple[str, str]) -> None:
    assert expected in keys(index.search(query, k=3))


def test_hits_carry_definition_score_and_reasons(index: ToolIndex) -> None:
    hits = index.search("read the file notes.txt", k=5)
    assert len(hits) == 5
    top = hits[0]
    assert top.tool["name"] == top.name and "inputSchema" in top.tool
    assert any(reason.startswith("name: ") for reason in top.why), top.why


def test_multi_step_request_covers_every_step(index: ToolIndex) -> None:
    found = keys(index.search("create a branch called fix-login and then push the files to it on github", k=5))
    assert ("github-legacy-ts", "create_branch") in found
    assert ("github-legacy-ts", "push_files") in found


def test_duplicate_tool_names_across_servers_stay_distinct(index: ToolIndex) -> None:
    assert index.get("gitlab-legacy", "create_branch") is not None
    assert index.get("github-legacy-ts", "create_branch") is not None
    gitlab = keys(index.search("create a branch in gitlab", k=3))
    github = keys(index.search("create a branch in github", k=3))
    assert gitlab[0] == ("gitlab-legacy", "create_branch")
    assert github[0] == ("github-legacy-ts", "create_branch")


def test_second_copy_of_a_tool_yields_to_a_different_tool(index: ToolIndex) -> None:
    # Neither product is named: the first create_branch is kept, the other server's copy is
    # ranked after tools that do something else.
    found = keys(index.search("create a new branch", k=3))
    names = [name for _, name in found]
    assert names.count("create_branch") == 1, found
    assert len(set(names)) == 3


class SameVector:
    """An embedder that sees every text alike, so only the lexical signal can separate tools."""

    model_id = "same-vector"

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return np.ones((len(texts), 4), dtype=np.float32) / 2.0


def test_ties_are_broken_by_server_then_catalogue_order() -> None:
    def tool(name: str) -> dict[str, Any]:
        return {"name": name, "description": "Check that the service answers."}

    forward, backward = ToolIndex(SameVector()), ToolIndex(SameVector())
    forward.update_servers({"s1": [tool("ping_a"), tool("ping_b")], "s2": [tool("ping_c")]})
    backward.update_servers({"s2": [tool("ping_c")], "s1": [tool("ping_a"), tool("ping_b")]})
    expected = [("s1", "ping_a"), ("s1", "ping_b"), ("s2", "ping_c")]
    assert keys(forward.search("check that the service answers", k=3)) == expected
    assert keys(backward.search("check that the service answers", k=3)) == expected


@pytest.mark.parametrize("query", ["", "   ", "?!…", "\n\t"])
def test_query_without_words_returns_nothing(index: ToolIndex, query: str) -> None:
    assert index.search(query, k=5) == []


def test_huge_query_is_answered_quickly(index: ToolIndex) -> None:
    query = "please list the files in my directory " * 20_000  # ~780 kB
    started = time.perf_counter()
    hits = index.search(query, k=5)
    assert time.perf_counter() - started < 1.0
    assert ("filesystem", "list_directory") in keys(hits)


def test_non_english_query_matches_tools_described_in_that_language(index: ToolIndex) -> None:
    found = keys(index.search("帮我查询明天北京到上海的余票", k=5))
    assert ("12306-mcp", "get-tickets") in found, found


def test_tools_with_empty_descriptions_are_found_by_name(index: ToolIndex) -> None:
    coin_flip = index.tools({"coin-flip"})
    assert any(not tool.get("description") for _, tool in coin_flip)
    assert keys(index.search("get the daily challenge problem", k=3))[0] == ("coin-flip", "get-daily-challenge")


def test_search_within_some_servers(index: ToolIndex) -> None:
    hits = index.search("create an issue", k=5, servers={"gitlab-legacy"})
    assert hits and {h.server for h in hits} == {"gitlab-legacy"}


def test_k_must_be_positive(index: ToolIndex) -> None:
    with pytest.raises(ConfigError, match="k must be a positive integer"):
        index.search("anything", k=0)


def test_k_larger_than_the_catalogue_returns_every_tool() -> None:
    small = ToolIndex()
    small.update_server("s", [{"name": "a", "description": "alpha"}, {"name": "b", "description": "beta"}])
    assert sorted(keys(small.search("alpha beta", k=50))) == [("s", "a"), ("s", "b")]


@pytest.mark.parametrize(
    ("tools", "message"),
    [
        ([{"description": "no name"}], r"tools\[0\]\.name must be a non-empty string"),
        ([{"name": "x"}, {"name": "x"}], r"tools\[1\]\.name 'x' is listed twice"),
        ("not a list", "tools must be a list"),
    ],
)
def test_bad_tool_lists_are_rejected_with_the_field_named(tools: Any, message: str) -> None:
    index = ToolIndex()
    with pytest.raises(ConfigError, match=message):
        index.update_server("bad", tools)
    assert len(index) == 0


def test_empty_index_answers_with_nothing() -> None:
    assert ToolIndex().search("list files", k=5) == []


def test_concurrent_searches_during_updates(index: ToolIndex, catalog_servers: list[dict[str, Any]]) -> None:
    live = ToolIndex()
    live.update_servers({s["server"]: s["tools"] for s in catalog_servers})
    errors: list[BaseException] = []
    stop = threading.Event()

    def searcher() -> None:
        try:
            while not stop.is_set():
                for hit in live.search("send a slack message", k=5):
                    assert hit.tool["name"] == hit.name
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=searcher) for _ in range(4)]
    for thread in threads:
        thread.start()
    slack = next(s for s in catalog_servers if s["server"] == "slack")
    for round_ in range(20):
        tools = slack["tools"] if round_ % 2 else slack["tools"][:2]
        live.update_server("slack", tools)
    stop.set()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(live.tools({"slack"})) == len(slack["tools"])


def test_ten_thousand_tool_catalogue_builds_and_answers_fast() -> None:
    verbs = ["create", "list", "get", "update", "delete", "search", "export", "archive", "restore", "sync"]
    nouns = [
        f"{a}{b}"
        for a in ("invoice", "ticket", "user", "report", "asset", "order", "build", "page", "alert", "note")
        for b in ("", "_item", "_group", "_version", "_comment")
    ]
    servers: dict[str, list[dict[str, Any]]] = {}
    for n in range(10_000):
        verb, noun, server = verbs[n % 10], nouns[(n // 10) % 50], f"service-{n // 500}"
        servers.setdefault(server, []).append(
            {
                "name": f"{verb}_{noun}_{n}",
                "description": f"{verb.capitalize()} a {noun.replace('_', ' ')} in {server} (variant {n}).",
                "inputSchema": {"type": "object", "properties": {"id": {"type": "string", "description": "The id."}}},
            }
        )
    big = ToolIndex()
    started = time.perf_counter()
    big.update_servers(servers)
    build_s = time.perf_counter() - started
    assert len(big) == 10_000
    assert build_s < 30, f"build took {build_s:.1f}s"
    started = time.perf_counter()
    for _ in range(20):
        hits = big.search("export the invoice versions", k=10)
    per_query_ms = (time.perf_counter() - started) / 20 * 1000
    assert per_query_ms < 100, f"{per_query_ms:.1f} ms per query"
    assert hits[0].name.startswith("export_invoice_version")

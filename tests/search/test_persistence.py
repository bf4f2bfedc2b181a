"""Incremental updates and the on-disk embedding cache."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hivekeeper.search import ToolIndex, default_embedder


class CountingEmbedder:
    """The shipped model, counting the texts it is asked to embed."""

    def __init__(self) -> None:
        self.inner = default_embedder()
        self.embedded: list[str] = []

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.embedded.extend(texts)
        return self.inner.embed(texts)


def servers_of(catalog_servers: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    return {s["server"]: s["tools"] for s in catalog_servers}


def test_restart_reuses_persisted_embeddings(tmp_path: Path, catalog_servers: list[dict[str, Any]]) -> None:
    first_model = CountingEmbedder()
    first = ToolIndex(first_model, cache_dir=tmp_path)
    first.update_servers(servers_of(catalog_servers))
    first.save()
    total = len(first)
    assert len(first_model.embedded) == total

    restarted_model = CountingEmbedder()
    restarted = ToolIndex(restarted_model, cache_dir=tmp_path)
    restarted.update_servers(servers_of(catalog_servers))
    assert restarted_model.embedded == []
    query = "send a message to the #general channel"
    assert [h.key for h in restarted.search(query, k=5)] == [h.key for h in first.search(query, k=5)]


def test_changed_tool_is_the_only_one_re_embedded(tmp_path: Path, catalog_servers: list[dict[str, Any]]) -> None:
    ToolIndex(cache_dir=tmp_path).update_servers(servers_of(catalog_servers))  # not saved: nothing persists
    seeded = ToolIndex(cache_dir=tmp_path)
    seeded.update_servers(servers_of(catalog_servers))
    seeded.save()

    model = CountingEmbedder()
    index = ToolIndex(model, cache_dir=tmp_path)
    servers = servers_of(catalog_servers)
    index.update_servers(servers)
    assert model.embedded == []
    time_tools = [dict(t) for t in servers["time"]]
    time_tools[0]["description"] = "Tell the weather on Mars for a given sol."
    assert index.update_server("time", time_tools) is True
    assert len(model.embedded) == 1 and "weather on Mars" in model.embedded[0]
    assert index.search("weather on mars", k=1)[0].key == ("time", time_tools[0]["name"])


def test_unchanged_update_is_a_no_op_and_keeps_the_generation(catalog_servers: list[dict[str, Any]]) -> None:
    index = ToolIndex()
    servers = servers_of(catalog_servers)
    assert index.update_servers(servers) is True
    generation = index.generation
    assert index.update_server("slack", servers["slack"]) is False
    assert index.generation == generation


def test_server_removal_and_tool_removal_are_visible_to_search(catalog_servers: list[dict[str, Any]]) -> None:
    index = ToolIndex()
    index.update_servers(servers_of(catalog_servers))
    assert any(h.server == "slack" for h in index.search("post a slack message", k=5))
    assert index.remove_server("slack") is True
    assert index.remove_server("slack") is False
    assert all(h.server != "slack" for h in index.search("post a slack message", k=5))
    assert "slack" not in index.servers

    fetch = servers_of(catalog_servers)["fetch"]
    index.update_server("fetch", [])
    assert index.tools({"fetch"}) == []
    index.update_server("fetch", fetch)
    assert [t["name"] for _, t in index.tools({"fetch"})] == [t["name"] for t in fetch]


def test_damaged_cache_file_is_rebuilt(tmp_path: Path, catalog_servers: list[dict[str, Any]]) -> None:
    index = ToolIndex(cache_dir=tmp_path)
    index.update_servers(servers_of(catalog_servers))
    index.save()
    (cache_file,) = tmp_path.glob("embeddings-*.npz")
    cache_file.write_bytes(b"not a zip file")

    model = CountingEmbedder()
    rebuilt = ToolIndex(model, cache_dir=tmp_path)
    rebuilt.update_servers(servers_of(catalog_servers))
    rebuilt.save()
    assert len(model.embedded) == len(rebuilt)
    assert np.load(cache_file)["keys"].shape == (len(rebuilt),)


def test_unwritable_cache_dir_costs_speed_not_service(tmp_path: Path, catalog_servers: list[dict[str, Any]]) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the cache directory should be")
    index = ToolIndex(cache_dir=blocked / "search")
    index.update_servers(servers_of(catalog_servers))
    index.save()  # logs a warning instead of failing
    assert index.search("what time is it", k=1)[0].key == ("time", "get_current_time")

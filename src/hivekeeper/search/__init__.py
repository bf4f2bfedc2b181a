"""Semantic tool search: index the tools of many MCP servers, find the few a request needs.

    from hivekeeper.search import ToolIndex, ToolSelector

    index = ToolIndex(cache_dir=paths.cache_dir() / "search")   # persists embeddings across restarts
    index.update_server("github", tools_list_result)             # again whenever tools/list changes
    hits = index.search("open a PR from feature/nav", k=5)       # ToolHit(server, name, score, tool, why)
    selection = ToolSelector(index).select(messages, k=5)        # definitions + cl100k token accounting

Searching is lock-free and safe from many threads; updates swap in a new immutable snapshot.
"""

from hivekeeper.search.catalog import Catalog, load_catalog, parse_catalog
from hivekeeper.search.embedding import (
    CombinedEmbedder,
    Embedder,
    HttpEmbedder,
    StaticEmbedder,
    TransformerEmbedder,
    default_embedder,
    transformer_embedder,
)
from hivekeeper.search.index import TRANSFORMER_TUNING, ToolHit, ToolIndex, Tuning
from hivekeeper.search.selection import Selection, ToolSelector, request_text
from hivekeeper.search.tokens import ListTokens, tool_definition, tools_tokens

__all__ = [
    "TRANSFORMER_TUNING",
    "Catalog",
    "CombinedEmbedder",
    "Embedder",
    "HttpEmbedder",
    "ListTokens",
    "Selection",
    "StaticEmbedder",
    "ToolHit",
    "ToolIndex",
    "ToolSelector",
    "TransformerEmbedder",
    "Tuning",
    "default_embedder",
    "load_catalog",
    "parse_catalog",
    "request_text",
    "tool_definition",
    "tools_tokens",
    "transformer_embedder",
]

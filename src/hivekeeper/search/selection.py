"""Prompt-aware selection: the tools one request needs, and what sending only them saves."""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hivekeeper.errors import ConfigError
from hivekeeper.search.index import ToolHit, ToolIndex
from hivekeeper.search.tokens import ListTokens, tool_definition, tools_tokens

Messages = Sequence[Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Selection:
    """The selected tools and their token cost against the full list of the same servers."""

    query: str
    hits: tuple[ToolHit, ...]
    tokens_selected: int
    tokens_full: int

    @property
    def tools(self) -> list[dict[str, Any]]:
        """Definitions to send to the model, best first."""
        return [tool_definition(hit.tool) for hit in self.hits]

    @property
    def tokens_saved(self) -> int:
        return self.tokens_full - self.tokens_selected

    @property
    def reduction(self) -> float:
        """Share of tool tokens not sent (0.0 when there is nothing to send)."""
        return 1.0 - self.tokens_selected / self.tokens_full if self.tokens_full else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "tools": [
                {
                    "server": h.server,
                    "name": h.name,
                    "score": h.score,
                    "why": list(h.why),
                    "definition": tool_definition(h.tool),
                }
                for h in self.hits
            ],
            "tokens": {
                "selected": self.tokens_selected,
                "full": self.tokens_full,
                "saved": self.tokens_saved,
                "reduction": round(self.reduction, 4),
            },
        }


def request_text(request: str | Messages) -> str:
    """The text to search with: a plain request, or the latest user turn of chat messages
    (with the user turn before it, since "do the same for staging" means little alone)."""
    if isinstance(request, str):
        return request
    user_turns: list[str] = []
    for position, message in enumerate(request):
        if not isinstance(message, Mapping):
            raise ConfigError(f"messages[{position}] must be an object with role and content")
        if message.get("role") == "user":
            text = _content_text(message.get("content"), position)
            if text.strip():
                user_turns.append(text)
    if not user_turns:
        raise ConfigError("messages contain no user turn with text")
    return "\n".join(user_turns[-2:])


def _content_text(content: Any, position: int) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):  # OpenAI / Anthropic / MCP content parts
        return " ".join(
            str(part.get("text", "")) for part in content if isinstance(part, Mapping) and part.get("type") == "text"
        )
    raise ConfigError(f"messages[{position}].content must be a string or a list of content parts")


class ToolSelector:
    """Selects tools per request from a shared index; caches the full-list token count per index
    generation, so a selection costs one search plus tokenising the few selected definitions."""

    def __init__(self, index: ToolIndex) -> None:
        self.index = index
        self._lock = threading.Lock()
        self._full_tokens: dict[tuple[int, frozenset[str] | None], int] = {}
        self._list_tokens = ListTokens()

    def full_tokens(self, servers: Collection[str] | None = None) -> int:
        key = (self.index.generation, None if servers is None else frozenset(servers))
        with self._lock:
            cached = self._full_tokens.get(key)
        if cached is not None:
            return cached
        with self._lock:  # ListTokens keeps state: one count at a time
            count = self._list_tokens.count([tool for _, tool in self.index.tools(servers)])
            self._full_tokens = {k: v for k, v in self._full_tokens.items() if k[0] == key[0]}
            self._full_tokens[key] = count
        return count

    def select(self, request: str | Messages, k: int = 5, *, servers: Collection[str] | None = None) -> Selection:
        query = request_text(request)
        hits = tuple(self.index.search(query, k, servers=servers))
        return Selection(
            query=query,
            hits=hits,
            tokens_selected=tools_tokens(hit.tool for hit in hits),
            tokens_full=self.full_tokens(servers),
        )

"""Token accounting: what the selected tool definitions cost a model, against the whole list.

Counted in cl100k tokens with the offline ``quicktok`` tokenizer, over the JSON a host sends
(``{"tools": [...]}``). No exact offline tokenizer exists for every model, so this is "cl100k tokens".
"""

from __future__ import annotations

import json
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

ENCODING = "cl100k_base"
# What a model is shown of a tool; anything else in a tools/list entry (e.g. _meta) is not prompt text.
DEFINITION_KEYS = ("name", "title", "description", "inputSchema", "outputSchema", "annotations")


def tool_definition(tool: Mapping[str, Any]) -> dict[str, Any]:
    return {key: tool[key] for key in DEFINITION_KEYS if key in tool}


@lru_cache(maxsize=1)
def _encoding() -> Any:
    import quicktok

    return quicktok.get_encoding(ENCODING)


_lock = threading.Lock()


def count_tokens(text: str) -> int:
    with _lock:  # quicktok's thread-safety is undocumented; counting is microseconds anyway
        return len(_encoding().encode(text))


def tools_tokens(tools: Iterable[Mapping[str, Any]]) -> int:
    """cl100k tokens of ``{"tools": [definition, ...]}`` serialised as compact-spaced JSON."""
    return count_tokens(json.dumps({"tools": [tool_definition(t) for t in tools]}, ensure_ascii=False))


class ListTokens:
    """cl100k tokens of tool lists, exactly as ``tools_tokens`` counts them, without
    tokenising thousands of definitions again for every caller and every change of the group (a second for
    2,700 tools). In ``{"tools": [{…}, {…}]}`` every definition starts with ``{`` and ends with ``}``, and
    cl100k's pre-tokenizer always splits ``}, {`` between the comma and the space, so a list's count is the
    sum of its definitions' counts in place: `` {…},`` in the middle, with the brackets at either end (the
    tests hold this against ``tools_tokens`` on real definitions). Those counts are kept per tool name while
    the definition is unchanged."""

    def __init__(self) -> None:
        # name → (the definition counted, {place: tokens of the definition written there})
        self._known: dict[str, tuple[Mapping[str, Any], dict[str, int]]] = {}

    def count(self, tools: Sequence[Mapping[str, Any]]) -> int:
        if not tools:
            return tools_tokens(tools)
        if len(tools) == 1:
            return self._count(tools[0], "only")
        middle = sum(self._count(tool, "middle") for tool in tools[1:-1])
        return self._count(tools[0], "first") + middle + self._count(tools[-1], "last")

    def keep(self, names: Collection[str]) -> None:
        """Forget the tools not in ``names`` (those that left the group)."""
        self._known = {name: known for name, known in self._known.items() if name in names}

    def _count(self, tool: Mapping[str, Any], place: str) -> int:
        # Compared as the model sees it: the same tool may carry different _meta in the index and in a listing.
        definition = tool_definition(tool)
        name = str(definition.get("name"))
        known = self._known.get(name)
        if known is None or known[0] != definition:
            known = self._known[name] = (definition, {})
        counts = known[1]
        if place not in counts:
            before, after = _PLACES[place]
            counts[place] = count_tokens(before + json.dumps(definition, ensure_ascii=False) + after)
        return counts[place]


# How a definition is written at each place of the list (json.dumps's default separators, as tools_tokens).
_PLACES = {"only": ('{"tools": [', "]}"), "first": ('{"tools": [', ","), "middle": (" ", ","), "last": (" ", "]}")}

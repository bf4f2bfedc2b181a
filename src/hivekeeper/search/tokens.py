"""Token accounting: what the selected tool definitions cost a model, against the whole list.

Counted in cl100k tokens with the offline ``quicktok`` tokenizer, over the JSON a host sends
(``{"tools": [...]}``). No exact offline tokenizer exists for every model, so this is "cl100k tokens".
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
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

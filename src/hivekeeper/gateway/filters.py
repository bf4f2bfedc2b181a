"""Per-backend tool filters and overrides (the ``tool-allowlist`` policy): allow/deny lists, renames and
description overrides, applied to a backend's tools before they are merged into the gateway's view."""

from __future__ import annotations

import fnmatch
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ToolFilterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allow: list[str] | None = Field(default=None, description="Only these tools (glob patterns); all when absent.")
    deny: list[str] = Field(default_factory=list, description="Never these tools (glob patterns).")
    rename: dict[str, str] = Field(default_factory=dict, description="backend tool name → exposed name")
    descriptions: dict[str, str] = Field(default_factory=dict, description="backend tool name → description")


class ToolFilter:
    def __init__(self, config: ToolFilterConfig | None = None) -> None:
        self.config = config or ToolFilterConfig()

    def permits(self, name: str) -> bool:
        allow = self.config.allow
        if allow is not None and not any(fnmatch.fnmatchcase(name, pattern) for pattern in allow):
            return False
        return not any(fnmatch.fnmatchcase(name, pattern) for pattern in self.config.deny)

    def apply(self, tools: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
        """``(backend name, tool as exposed)`` for each permitted tool: renamed, description overridden."""
        exposed = []
        for tool in tools:
            original = str(tool.get("name", ""))
            if not self.permits(original):
                continue
            shown = dict(tool)
            shown["name"] = self.config.rename.get(original, original)
            if original in self.config.descriptions:
                shown["description"] = self.config.descriptions[original]
            exposed.append((original, shown))
        return exposed

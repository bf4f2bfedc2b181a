"""Reading tool catalogues from files: ``[{server, tools, serverInfo?}, ...]`` (like
``catalog.json`` of the tool-search data) or ``{server: tools/list result}``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from hivekeeper.errors import ConfigError, NotFoundError


@dataclass(frozen=True, slots=True)
class Catalog:
    tools: dict[str, Any]  # server -> tools/list result (or its tools list)
    descriptions: dict[str, str]


def _server_description(entry: Mapping[str, Any]) -> str:
    info = entry.get("serverInfo") if isinstance(entry.get("serverInfo"), Mapping) else {}
    parts = [
        entry.get("description"),
        entry.get("title"),
        (info or {}).get("title"),
        (info or {}).get("description"),
        entry.get("instructions"),
    ]
    return " ".join(str(p) for p in parts if isinstance(p, str) and p)


def parse_catalog(data: Any, source: str = "catalog") -> Catalog:
    if isinstance(data, Mapping):
        return Catalog(tools=dict(data), descriptions={})
    if not isinstance(data, list):
        raise ConfigError(f"{source}: expected a list of {{server, tools}} or an object of server -> tools/list")
    tools: dict[str, Any] = {}
    descriptions: dict[str, str] = {}
    for position, entry in enumerate(data):
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{source}: [{position}] must be an object with server and tools")
        server = entry.get("server")
        if not isinstance(server, str) or not server:
            raise ConfigError(f"{source}: [{position}].server must be a non-empty string")
        if server in tools:
            raise ConfigError(f"{source}: [{position}].server {server!r} appears twice")
        if "tools" not in entry:
            raise ConfigError(f"{source}: [{position}].tools is missing")
        tools[server] = entry["tools"]
        descriptions[server] = _server_description(entry)
    return Catalog(tools=tools, descriptions=descriptions)


def load_catalog(path: Path) -> Catalog:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"catalog file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read catalog {path}: {exc.strerror}") from None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    return parse_catalog(data, str(path))

"""One interface over the config file formats AI clients use: read entries, set one, remove one.

Every implementation edits text surgically, so whatever the user wrote around hivekeeper's entries
(comments, ordering, spacing, other servers) survives byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import tomlkit
from tomlkit.exceptions import ParseError as TomlParseError

from hivekeeper.clients import jsonc, yamledit


class ConfigSyntaxError(ValueError):
    """The user's file does not parse; the message names the line."""


def syntax_error_of(exc: Exception) -> ConfigSyntaxError | None:
    """The user-facing syntax error behind a parser's exception, or None if it is something else."""
    if isinstance(exc, ConfigSyntaxError):
        return exc
    if isinstance(exc, jsonc.JsoncSyntaxError | yamledit.YamlEditError | TomlParseError):
        return ConfigSyntaxError(str(exc))
    return None


class ConfigFormat(Protocol):
    def entries(self, text: str) -> dict[str, Any]:
        """The server entries currently in the file, by name (raises ``ConfigSyntaxError``)."""
        ...

    def set_entry(self, text: str, name: str, value: dict[str, Any]) -> str: ...

    def remove_entry(self, text: str, name: str) -> str: ...


def _walk(document: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


@dataclass(frozen=True)
class JsoncMap:
    """A JSON or JSONC file with servers in an object at ``path`` (e.g. ``["mcpServers"]``)."""

    path: tuple[str, ...]

    def entries(self, text: str) -> dict[str, Any]:
        document = jsonc.loads(text) if text.strip() else {}
        if not isinstance(document, dict):
            raise ConfigSyntaxError("line 1: the top-level value is not an object")
        found = _walk(document, self.path)
        return dict(found) if isinstance(found, dict) else {}

    def set_entry(self, text: str, name: str, value: dict[str, Any]) -> str:
        base = text if text.strip() else "{}\n"
        return jsonc.set_member(base, self.path, name, value)

    def remove_entry(self, text: str, name: str) -> str:
        if not text.strip():
            return text
        return jsonc.remove_member(text, self.path, name)


@dataclass(frozen=True)
class YamlMap:
    """A YAML file with servers as a mapping under a top-level key (Goose's ``extensions``)."""

    key: str

    def entries(self, text: str) -> dict[str, Any]:
        document = yamledit.loads(text) or {}
        found = document.get(self.key) if isinstance(document, dict) else None
        return dict(found) if isinstance(found, dict) else {}

    def set_entry(self, text: str, name: str, value: dict[str, Any]) -> str:
        return yamledit.set_mapping_entry(text, self.key, name, value)

    def remove_entry(self, text: str, name: str) -> str:
        return yamledit.remove_mapping_entry(text, self.key, name)


@dataclass(frozen=True)
class YamlList:
    """A YAML file with servers as a list of mappings named by ``name`` (Continue's ``mcpServers``)."""

    key: str

    def entries(self, text: str) -> dict[str, Any]:
        document = yamledit.loads(text) or {}
        found = document.get(self.key) if isinstance(document, dict) else None
        if not isinstance(found, list):
            return {}
        return {
            item["name"]: {key: value for key, value in item.items() if key != "name"}
            for item in found
            if isinstance(item, dict) and "name" in item
        }

    def set_entry(self, text: str, name: str, value: dict[str, Any]) -> str:
        return yamledit.set_sequence_item(text, self.key, "name", name, {"name": name, **value})

    def remove_entry(self, text: str, name: str) -> str:
        return yamledit.remove_sequence_item(text, self.key, "name", name)


@dataclass(frozen=True)
class TomlTables:
    """A TOML file with one table per server under ``key`` (Codex's ``[mcp_servers.NAME]``)."""

    key: str

    def _parse(self, text: str) -> tomlkit.TOMLDocument:
        return tomlkit.parse(text)

    def entries(self, text: str) -> dict[str, Any]:
        found = self._parse(text).unwrap().get(self.key)
        return dict(found) if isinstance(found, dict) else {}

    def set_entry(self, text: str, name: str, value: dict[str, Any]) -> str:
        document = self._parse(text)
        servers = document.get(self.key)
        if servers is None:
            servers = tomlkit.table(is_super_table=True)
            document.append(self.key, servers)
        table = tomlkit.table()
        table.update(value)
        if name in servers:
            servers[name] = table
        else:
            servers.append(name, table)
        return tomlkit.dumps(document)

    def remove_entry(self, text: str, name: str) -> str:
        document = self._parse(text)
        servers = document.get(self.key)
        if servers is None or name not in servers:
            return text
        del servers[name]
        return tomlkit.dumps(document)

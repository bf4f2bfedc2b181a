"""What the portal shows besides the registry: workloads, audit events, and tool search.

Each is optional: without a workloads manager the portal prints the ``hivekeeper run`` command, without
an audit file it says where to configure one, without the search package it falls back to text search.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol

import orjson

from hivekeeper.registry.curation import publisher_block
from hivekeeper.registry.store import RegistryStore

LOG_TAIL_BYTES = 64 * 1024
AUDIT_TAIL_BYTES = 512 * 1024


class Workloads(Protocol):
    def run(self, spec: Mapping[str, Any]) -> dict[str, Any]: ...
    def list(self) -> list[dict[str, Any]]: ...
    def act(self, action: str, name: str) -> dict[str, Any]: ...
    def log_tail(self, name: str) -> str: ...


class ManagerWorkloads:
    """The per-user workloads manager (``hivekeeper.workloads``), started on first use."""

    ACTIONS: ClassVar[dict[str, str]] = {"stop": "stop", "start": "start", "restart": "restart", "remove": "rm"}

    def __init__(self) -> None:
        from hivekeeper.workloads.control import ManagerClient

        self._client = ManagerClient()

    def _call(self, op: str, **args: Any) -> Any:
        return self._client.ensure_running().call(op, **args)

    def run(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("run", spec_document=dict(spec), auto_name=True)
        return result

    def list(self) -> list[dict[str, Any]]:
        # Looking must not start anything: without a manager no workload is running.
        if not self._client.alive():
            return []
        result: list[dict[str, Any]] = self._client.call("list")
        return result

    def act(self, action: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(self.ACTIONS[action], name=name)
        return result

    def log_tail(self, name: str) -> str:
        from hivekeeper.workloads.state import logs_dir

        return tail_text(logs_dir() / f"{name}.log", LOG_TAIL_BYTES)


def default_workloads() -> Workloads | None:
    try:
        return ManagerWorkloads()
    except ImportError:
        return None


def tail_text(path: Path, limit: int) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - limit))
            data = handle.read()
    except FileNotFoundError:
        return ""
    if size > limit:
        data = data.split(b"\n", 1)[-1]  # drop the partial first line
    return data.decode("utf-8", "replace")


def audit_events(path: Path | None, *, limit: int = 200, text: str = "") -> list[dict[str, Any]]:
    """The newest audit events of the gateway's NDJSON file, newest first, optionally filtered."""
    if path is None:
        return []
    events = []
    needle = text.lower()
    for line in reversed(tail_text(path, AUDIT_TAIL_BYTES).splitlines()):
        if needle and needle not in line.lower():
            continue
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(event, dict):
            events.append(event)
        if len(events) >= limit:
            break
    return events


class ToolSearch:
    """A semantic index of the tools that registry entries declare, rebuilt when the catalogue changes."""

    def __init__(self, store: RegistryStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._fingerprint: tuple[int, str] | None = None
        self._selector: Any = None

    def _ready(self) -> Any:
        from hivekeeper.search import ToolIndex, ToolSelector

        fingerprint = self.store.fingerprint()
        with self._lock:
            if self._selector is None or fingerprint != self._fingerprint:
                index = ToolIndex()
                tools: dict[str, list[Mapping[str, Any]]] = {}
                descriptions: dict[str, str] = {}
                for entry in self.store.latest_entries():
                    declared = [tool for tool in publisher_block(entry.server).get("tools") or [] if tool.get("name")]
                    if declared:
                        tools[entry.name] = declared
                        descriptions[entry.name] = str(entry.server.get("description", ""))
                index.update_servers(tools, descriptions=descriptions)
                self._selector, self._fingerprint = ToolSelector(index), fingerprint
            return self._selector

    def select(self, request: str, k: int = 5) -> Any:
        """A ``hivekeeper.search.Selection``: the tools the gateway would send, with token accounting."""
        return self._ready().select(request, k)

    def servers_for(self, query: str, k: int = 20) -> list[tuple[str, list[str]]]:
        """Servers whose tools match ``query`` by meaning, best first, with the matching tool names."""
        ranked: dict[str, list[str]] = {}
        for hit in self._ready().index.search(query, k):
            ranked.setdefault(hit.server, []).append(hit.name)
        return list(ranked.items())


def default_tool_search(store: RegistryStore) -> ToolSearch | None:
    try:
        import hivekeeper.search  # noqa: F401
    except ImportError:
        return None
    return ToolSearch(store)


__all__ = [
    "ManagerWorkloads",
    "ToolSearch",
    "Workloads",
    "audit_events",
    "default_tool_search",
    "default_workloads",
    "tail_text",
]

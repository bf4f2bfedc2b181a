"""Tool search link: instead of every tool of the group, clients see ``find_tools`` and ``call_tool`` (plus
a few pinned tools). ``find_tools`` ranks the group's tools for a request with ``hivekeeper.search`` and
answers with their full definitions; ``call_tool`` calls one by name. In ``dynamic`` mode the tools a
session found are listed directly in that session from then on, announced with ``tools/list_changed``, so
the model calls them natively next turn (2026-07-28 clients have no session: they get meta-tools only).
Hosts that know the user's request (agent frameworks, LLM gateways) can instead put it in ``tools/list``'s
``params._meta["io.hivekeeper/request"]`` (or POST it to ``/gateway/select``) and get the selected tools'
full definitions as the list: prompt-aware selection.

The link sits before authorization in the chain, so a ``call_tool`` is authorized as the tool it names,
and ``find_tools`` only ever returns tools the caller may use.

Every selection is costed in cl100k tokens: the definitions it returned against the caller's whole list (what
the client would have been sent without search). Answers carry the pair in ``_meta["io.hivekeeper/tokens"]``
and the gateway's metrics count it, per mode (``meta``, ``dynamic`` or ``prompt``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, Protocol

import orjson

from hivekeeper.gateway.chain import Call, Handler, Result, RpcError
from hivekeeper.gateway.config import SearchConfig
from hivekeeper.gateway.telemetry import Metrics
from hivekeeper.search import ListTokens, ToolHit, ToolIndex
from hivekeeper.transport.jsonrpc import INVALID_PARAMS

FIND_TOOLS = "find_tools"
CALL_TOOL = "call_tool"
MAX_K = 50
MAX_SESSIONS = 10_000
REQUEST_META_KEY = "io.hivekeeper/request"  # tools/list params._meta: the user's request, for prompt-aware lists
K_META_KEY = "io.hivekeeper/k"
TOKENS_META_KEY = "io.hivekeeper/tokens"  # result _meta: {"selected": n, "full": m} cl100k tokens
PROMPT_MODE = "prompt"  # the metrics' mode label of prompt-aware lists (find_tools uses the configured mode)
MAX_FULL_COUNTS = 256  # whole-list token counts kept: one per distinct set of tools callers may see

META_TOOLS: list[dict[str, Any]] = [
    {
        "name": FIND_TOOLS,
        "description": "Find the tools that can do a task. Describe the task in plain words; the answer lists the "
        "best matching tools with their full input schemas and why each matched. Then use call_tool.",
        "inputSchema": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What you want to do."},
                "k": {"type": "integer", "minimum": 1, "maximum": MAX_K, "description": "How many tools (default 5)."},
            },
            "required": ["query"],
        },
    },
    {
        "name": CALL_TOOL,
        "description": "Call a tool found with find_tools, by its name, with arguments matching its input schema.",
        "inputSchema": {
            "type": "object",
            "properties": {
                "tool": {"type": "string", "description": "The tool's name as find_tools gave it."},
                "arguments": {"type": "object", "description": "The tool's arguments."},
            },
            "required": ["tool"],
        },
    },
]


class ToolSource(Protocol):
    """What the link searches: the group's tools by backend, and a generation that moves when they may have."""

    @property
    def generation(self) -> int: ...

    def tools_by_backend(self) -> dict[str, list[dict[str, Any]]]: ...


WholeList = tuple[Sequence[Mapping[str, Any]], frozenset[Any]]
"""The tools a caller may see, and their names (already built for ranking: 2,700 names cost a millisecond)."""


class ToolSearch:
    def __init__(
        self, config: SearchConfig, index: ToolIndex, source: ToolSource, metrics: Metrics | None = None
    ) -> None:
        self.config = config
        self.index = index
        self.source = source
        self.metrics = metrics
        self._list_tokens = ListTokens()
        # (source generation, names the caller may see) → tokens of that whole list: callers under the same
        # policies see the same list, and summing thousands of counts per selection would show in its latency
        self._full_tokens: dict[tuple[int, frozenset[Any]], int] = {}
        self._indexed: int | None = None  # the source generation the index holds
        self._server_of: dict[str, str] = {}  # tool name → backend, as indexed
        self._tool_count: dict[str, int] = {}  # backend → how many tools it has indexed
        # dynamic mode: session id → tools found in it, listed directly from then on (most recent sessions kept)
        self._exposed: dict[str, set[str]] = {}

    async def _expose(self, call: Call, names: set[str]) -> None:
        session = call.session_id or ""
        known = self._exposed.pop(session, set())
        self._exposed[session] = known | names
        if len(self._exposed) > MAX_SESSIONS:
            del self._exposed[next(iter(self._exposed))]
        if not names <= known and call.exchange is not None:
            # On this call's own stream, so exactly this client learns that its list grew.
            await call.exchange.notify({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})

    async def __call__(self, call: Call, call_next: Handler) -> Result:
        if call.method == "tools/list":
            listed = await call_next(call)
            tools: list[dict[str, Any]] = listed.get("tools", [])
            pinned = [tool for tool in tools if tool.get("name") in self.config.pinned]
            meta = call.params.get("_meta")
            request = meta.get(REQUEST_META_KEY) if isinstance(meta, dict) else None
            if request is not None:  # prompt-aware: the host told us what the user asked for
                started = time.perf_counter()
                k = meta.get(K_META_KEY, self.config.k) if isinstance(meta, dict) else self.config.k
                by_name = {tool.get("name"): tool for tool in tools}
                names = frozenset(by_name)
                chosen = [by_name[hit.name] for hit in self._rank(request, k, names, "tools/list _meta")]
                selected = [*chosen, *(tool for tool in pinned if tool not in chosen)]
                tokens = self._account(PROMPT_MODE, selected, (tools, names), started)
                return {**listed, "tools": selected, "_meta": {**listed.get("_meta", {}), TOKENS_META_KEY: tokens}}
            exposed = self._exposed.get(call.session_id or "", set())
            extra = [tool for tool in tools if tool in pinned or tool.get("name") in exposed]
            return {**listed, "tools": [*META_TOOLS, *extra]}
        if call.method != "tools/call" or call.target not in (FIND_TOOLS, CALL_TOOL):
            return await call_next(call)
        arguments = call.arguments
        if call.target == CALL_TOOL:
            tool = arguments.get("tool")
            if not isinstance(tool, str) or not tool:
                raise RpcError(INVALID_PARAMS, "call_tool: arguments.tool must name a tool (see find_tools)")
            inner = arguments.get("arguments") or {}
            if not isinstance(inner, dict):
                raise RpcError(INVALID_PARAMS, "call_tool: arguments.arguments must be an object")
            call.params = {**call.params, "name": tool, "arguments": inner}
            return await call_next(call)
        return await self._find(call, call_next)

    def _rank(self, query: Any, k: Any, allowed: AbstractSet[Any], where: str) -> list[ToolHit]:
        """The ``k`` best tools for ``query`` among ``allowed`` names."""
        if not isinstance(query, str) or not query.strip():
            raise RpcError(INVALID_PARAMS, f"{where}: the query must be a non-empty string")
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
            raise RpcError(INVALID_PARAMS, f"{where}: k must be an integer from 1 to {MAX_K}")
        self._sync_index()
        # Search only the backends serving an allowed tool, and while their tools the caller may not use
        # crowd the top, widen (x4: each hit costs, scoring does not) until k allowed tools are found or
        # those backends have no more: a caller allowed few tools still gets k of them, not fewer.
        servers = {self._server_of[name] for name in allowed if name in self._server_of}
        candidates = sum(self._tool_count[server] for server in servers)
        wanted = k
        while True:
            hits = self.index.search(query, k=wanted, servers=servers)
            chosen = [hit for hit in hits if hit.name in allowed]
            if len(chosen) >= k or len(hits) < wanted or wanted >= candidates:
                return chosen[:k]
            wanted = min(wanted * 4, candidates)

    def _sync_index(self) -> None:
        """Re-index when the group's tool lists may have changed, and only then (hashing every backend's
        tools costs milliseconds on large groups); backends that left the group leave the index."""
        generation = self.source.generation
        if generation == self._indexed:
            return
        by_backend = self.source.tools_by_backend()
        for server in set(self.index.servers) - set(by_backend):
            self.index.remove_server(server)
        self.index.update_servers(by_backend)
        self._server_of = {str(tool.get("name")): server for server, tools in by_backend.items() for tool in tools}
        self._tool_count = {server: len(tools) for server, tools in by_backend.items()}
        self._list_tokens.keep(self._server_of)
        self._indexed = generation

    async def _find(self, call: Call, call_next: Handler) -> Result:
        # What this caller may use: the group's list as it comes back through authorization.
        listing = Call("tools/list", {}, call.caller, None, call.session_id, call.protocol_version, call.client_name)
        allowed: list[dict[str, Any]] = (await call_next(listing)).get("tools", [])
        started = time.perf_counter()
        query, k = call.arguments.get("query"), call.arguments.get("k", self.config.k)
        names = frozenset(tool.get("name") for tool in allowed)
        hits = self._rank(query, k, names, "find_tools")
        tokens = self._account(self.config.mode, [hit.tool for hit in hits], (allowed, names), started)
        found = [
            {
                "name": hit.name,
                "server": hit.server,
                "score": round(hit.score, 4),
                "why": list(hit.why),
                "description": hit.tool.get("description", ""),
                "inputSchema": hit.tool.get("inputSchema", {}),
            }
            for hit in hits
        ]
        call.notes["found"] = [tool["name"] for tool in found]
        if self.config.mode == "dynamic" and call.session_id is not None and found:
            await self._expose(call, {tool["name"] for tool in found})
        return {
            "content": [{"type": "text", "text": orjson.dumps({"tools": found}).decode()}],
            "structuredContent": {"tools": found},
            "_meta": {TOKENS_META_KEY: tokens},
        }

    def _account(
        self, mode: str, selected: Sequence[Mapping[str, Any]], full: WholeList, started: float
    ) -> dict[str, int]:
        """The selection's token cost against the caller's whole list, recorded in the metrics."""
        tokens = {"selected": self._list_tokens.count(selected), "full": self._whole_list_tokens(full)}
        if self.metrics is not None:
            seconds = time.perf_counter() - started
            self.metrics.record_selection(mode, tokens["selected"], tokens["full"], seconds)
        return tokens

    def _whole_list_tokens(self, whole: WholeList) -> int:
        tools, names = whole
        generation = self.source.generation
        key = (generation, names)
        count = self._full_tokens.get(key)
        if count is None:
            count = self._list_tokens.count(tools)
            # Counts of older generations can never be asked for again; past the bound, the oldest go first.
            kept = {old: n for old, n in self._full_tokens.items() if old[0] == generation}
            while len(kept) >= MAX_FULL_COUNTS:
                del kept[next(iter(kept))]
            kept[key] = count
            self._full_tokens = kept
        return count

"""The end of the chain: answers list methods from the catalog and sends targeted calls to the backend
that owns the name, under the name that backend knows.

Resource subscriptions are counted across sessions, since every session shares the backends: a 2025
backend is sent ``resources/subscribe`` once per URI (and ``unsubscribe`` when its last holder lets go), a
2026 backend gets the set on its ``subscriptions/listen`` stream. The backend always hears its own URI.
A holder is a 2025 session or a 2026 client's listen stream (the front gives each its own session id). A
release goes where its hold was taken, and one the gateway makes itself when a holder ends (``Call.cleanup``)
always lets go, even if the backend cannot be told: nobody is left to retry it."""

from __future__ import annotations

from typing import Any

from hivekeeper.gateway.catalog import Catalog, Route, result_of
from hivekeeper.gateway.chain import Call, Result, RpcError
from hivekeeper.transport.jsonrpc import INVALID_PARAMS, METHOD_NOT_FOUND

_ROUTED = {"tools/call", "prompts/get", "resources/read"}
_SUBSCRIPTIONS = {"resources/subscribe", "resources/unsubscribe"}


class Router:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._subscribers: dict[tuple[str, str], set[str | None]] = {}  # (backend, its URI) → session ids
        self._holds: dict[tuple[str | None, str | None], Route] = {}  # (session id, URI it holds) → where it leads

    async def __call__(self, call: Call) -> Result:
        method = call.method
        if method == "tools/list":
            await self.catalog.refresh()
            return {"tools": self.catalog.tools()}
        if method == "prompts/list":
            await self.catalog.refresh()
            return {"prompts": self.catalog.prompts()}
        if method == "resources/list":
            await self.catalog.refresh()
            return {"resources": self.catalog.resources()}
        if method == "resources/templates/list":
            await self.catalog.refresh()
            return {"resourceTemplates": self.catalog.resource_templates()}
        if method == "ping" or method == "logging/setLevel":
            return {}
        if method in _ROUTED:
            return await self._forward(call, self._route(call), call.params)
        if method in _SUBSCRIPTIONS:
            return await self._subscription(call)
        if method == "completion/complete":
            return await self._forward(call, self._route_completion(call), call.params)
        raise RpcError(METHOD_NOT_FOUND, f"method {method!r} is not served by the gateway")

    def _route(self, call: Call) -> Route:
        target = call.target
        if target is None:
            key = "uri" if call.method.startswith("resources/") else "name"
            raise RpcError(INVALID_PARAMS, f"{call.method}: params.{key} must be a string")
        if call.method == "tools/call":
            return self.catalog.route_tool(target)
        if call.method == "prompts/get":
            return self.catalog.route_prompt(target)
        return self.catalog.route_resource(target)

    def _route_completion(self, call: Call) -> Route:
        ref = call.params.get("ref")
        if isinstance(ref, dict) and ref.get("type") == "ref/prompt" and isinstance(ref.get("name"), str):
            return self.catalog.route_prompt(ref["name"])
        if isinstance(ref, dict) and ref.get("type") == "ref/resource" and isinstance(ref.get("uri"), str):
            return self.catalog.route_resource(ref["uri"])
        raise RpcError(INVALID_PARAMS, "completion/complete: params.ref must name a prompt or a resource")

    async def _subscription(self, call: Call) -> Result:
        subscribing = call.method == "resources/subscribe"
        hold = (call.session_id, call.target)
        # Releasing follows the hold, so it works even once the catalog routes the URI elsewhere, or not at all.
        held = None if subscribing else self._holds.get(hold)
        route = held if held is not None else self._route(call)
        call.backend = backend = route.backend.name
        key = (backend, route.original)
        holders = self._subscribers.get(key, set())
        after = holders | {call.session_id} if subscribing else holders - {call.session_id}
        upstream_changes = bool(after) != bool(holders)  # the first holder came or the last one left
        identity = route.backend.identity
        modern = identity is not None and identity.modern
        if upstream_changes and not modern:
            await self._tell_backend(call, route)
        if after:
            self._subscribers[key] = after
        else:
            self._subscribers.pop(key, None)
        if subscribing:
            self._holds[hold] = route
        else:
            self._holds.pop(hold, None)
        if upstream_changes and modern:
            await route.backend.watch_resources({uri for name, uri in self._subscribers if name == backend})
        return {}

    async def _tell_backend(self, call: Call, route: Route) -> None:
        """Send a 2025 backend the (un)subscribe. Its refusal leaves the count as it was, so the client may
        retry; a cleanup release lets go anyway (noting why), since the holder is gone."""
        try:
            await self._forward(call, route, call.params)
        except RpcError as exc:
            if not call.cleanup:
                raise
            call.notes["backend_error"] = exc.message

    async def _forward(self, call: Call, route: Route, params: dict[str, Any]) -> Result:
        call.backend = route.backend.name
        if call.method == "completion/complete":
            ref = dict(params["ref"])
            ref["name" if ref["type"] == "ref/prompt" else "uri"] = route.original
            params = {**params, "ref": ref}
        else:
            params = {**params, "uri" if call.method.startswith("resources/") else "name": route.original}
        body = await route.backend.call(call.method, params, exchange=call.exchange)
        result = result_of(body, route.backend.name, call.method)
        if call.method == "resources/read":  # the contents name the URIs the backend knows: show the client's
            for content in result.get("contents") or ():
                if isinstance(content, dict) and isinstance(content.get("uri"), str):
                    content["uri"] = self.catalog.exposed_uri(route.backend.name, content["uri"])
        return result

"""The bridge: an ``McpFront`` whose handler passes every request through to one ``Backend``.

The backend is shared by all client sessions. The proxy introduces itself to the upstream once, so a 2025-era
client's ``initialize`` and a 2026-era client's ``server/discover`` are answered from what the upstream said
then (or passed through, when the upstream speaks the client's era).
"""

from __future__ import annotations

import asyncio
from typing import Final, Protocol

from starlette.applications import Starlette

from hivekeeper.transport.backend import Backend, Exchange, ServerIdentity
from hivekeeper.transport.front import FrontSettings, McpFront, Session
from hivekeeper.transport.jsonrpc import CONNECTION_CLOSED, INVALID_PARAMS, METHOD_NOT_FOUND, Message, dumps, error_body

_CONSUMED_BY_PROXY = frozenset({"notifications/initialized", "notifications/cancelled"})
MAX_TOOL_PAGES: Final = 100
_SESSION_METHODS = frozenset({"logging/setLevel", "resources/subscribe", "resources/unsubscribe"})


class ClientHub(Protocol):
    """Where messages the upstream sends outside any call go: ``McpFront`` or ``StdioFront``."""

    async def broadcast(self, message: Message) -> None: ...

    async def request_any(self, message: Message) -> Message: ...


class BridgeHandler:
    """``Handler`` for one backend; also the backend's listener, pushing its unsolicited messages to clients."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.clients: ClientHub | None = None
        self._param_schemas: dict[str, Message] | None = None
        self._param_schemas_filling: asyncio.Future[dict[str, Message]] | None = None
        self._subscribers: dict[str, set[int]] = {}
        """Resource URI -> the 2025 sessions (by object id) subscribed to it."""

    def attach(self, clients: ClientHub) -> None:
        self.clients = clients
        self.backend.listener = self

    async def handle(self, session: Session, message: Message, exchange: Exchange) -> Message:
        method: str = message["method"]
        params = message.get("params")
        if method == "initialize":
            identity = await self._identity()
            if identity is None:
                return error_body(
                    CONNECTION_CLOSED, f"backend {self.backend.name} unavailable: {self.backend.down_reason}"
                )
            return {"result": identity.initialize_result((params or {}).get("protocolVersion"))}
        if method in _SESSION_METHODS:  # from a 2026 session, the front's own: a listen stream's resources
            return await self._session_method(session, method, params or {}, exchange)
        if method == "server/discover" and not self._backend_is_modern():
            identity = await self._identity()
            if identity is None:
                return error_body(
                    CONNECTION_CLOSED, f"backend {self.backend.name} unavailable: {self.backend.down_reason}"
                )
            return {"result": identity.discover_result()}
        return await self.backend.call(method, params, exchange=exchange)

    async def notification(self, session: Session, message: Message) -> None:
        if message["method"] not in _CONSUMED_BY_PROXY:
            await self.backend.notify(message["method"], message.get("params"))

    async def session_closed(self, session: Session) -> None:
        """Drop the session's resource subscriptions (upstream too, once nobody else holds them)."""
        for uri in list(session.resource_subscriptions):
            await self._session_method(session, "resources/unsubscribe", {"uri": uri}, Exchange())

    async def _session_method(self, session: Session, method: str, params: Message, exchange: Exchange) -> Message:
        """2025 per-session state: kept here per session, since every session shares the one upstream.

        ``logging/setLevel`` goes upstream as is to a 2025 server; a 2026 server gets the level in each
        request's ``_meta`` instead. Resource subscriptions are counted across sessions: a 2025 server is
        subscribed once per URI, a 2026 server gets them on its ``subscriptions/listen`` stream.
        """
        modern_backend = self._backend_is_modern()
        if method == "logging/setLevel":
            level = params.get("level")
            if not isinstance(level, str):
                return error_body(INVALID_PARAMS, "logging/setLevel needs a string level")
            if not modern_backend:
                body = await self.backend.call(method, params, exchange=exchange)
                if "error" in body:
                    return body
            session.log_level = level
            return {"result": {}}
        uri = params.get("uri")
        if not isinstance(uri, str):
            return error_body(INVALID_PARAMS, f"{method} needs a string uri")
        holders = self._subscribers.setdefault(uri, set())
        subscribing = method == "resources/subscribe"
        first_or_last = (not holders) if subscribing else (holders == {id(session)})
        if subscribing:
            session.resource_subscriptions.add(uri)
            holders.add(id(session))
        else:
            session.resource_subscriptions.discard(uri)
            holders.discard(id(session))
            if not holders:
                del self._subscribers[uri]
        if modern_backend:
            if first_or_last:
                await self.backend.watch_resources(set(self._subscribers))
            return {"result": {}}
        if first_or_last:
            return await self.backend.call(method, params, exchange=exchange)
        return {"result": {}}

    async def param_header_schema(self, tool: str) -> Message | None:
        """The input schema of ``tool`` if it declares ``Mcp-Param-*`` headers (``x-mcp-header``), else None.

        From the upstream's tool list, fetched once and dropped when it announces a change.
        """
        if self._param_schemas is None:
            if self._param_schemas_filling is None:
                self._param_schemas_filling = asyncio.ensure_future(self._fetch_param_schemas())
            try:
                self._param_schemas = await asyncio.shield(self._param_schemas_filling)
            finally:
                self._param_schemas_filling = None
        return self._param_schemas.get(tool)

    async def _fetch_param_schemas(self) -> dict[str, Message]:
        schemas: dict[str, Message] = {}
        params: Message = {}
        for _ in range(MAX_TOOL_PAGES):
            body = await self.backend.call("tools/list", params)
            result = body.get("result")
            if not isinstance(result, dict):
                break
            for tool in result.get("tools") or ():
                schema = tool.get("inputSchema") if isinstance(tool, dict) else None
                if isinstance(schema, dict) and b'"x-mcp-header"' in dumps(schema):
                    schemas[str(tool.get("name"))] = schema
            cursor = result.get("nextCursor")
            if not isinstance(cursor, str):
                break
            params = {"cursor": cursor}
        return schemas

    async def backend_notification(self, backend: Backend, message: Message) -> None:
        if message.get("method") == "notifications/tools/list_changed":
            self._param_schemas = None
        if self.clients is not None:
            await self.clients.broadcast(message)

    async def backend_request(self, backend: Backend, message: Message) -> Message:
        if self.clients is None:
            return error_body(METHOD_NOT_FOUND, "no client attached")
        return await self.clients.request_any(message)

    async def _identity(self) -> ServerIdentity | None:
        backend = self.backend
        if not backend.ready:
            await backend.wait_ready()
        return backend.identity

    def _backend_is_modern(self) -> bool:
        return self.backend.identity is not None and self.backend.identity.modern


def build_bridge(backend: Backend, settings: FrontSettings | None = None) -> McpFront:
    """Front + pass-through handler over ``backend``. Start the backend yourself (``await backend.start()``)."""
    handler = BridgeHandler(backend)
    front = McpFront(handler, settings, is_ready=lambda: backend.ready)
    handler.attach(front)
    return front


def build_bridge_app(backend: Backend, settings: FrontSettings | None = None) -> Starlette:
    """The bridge as a Starlette app (``/mcp``, ``/sse``, ``/messages``, ``/healthz``) for mounting."""
    return build_bridge(backend, settings).app()


__all__ = ["BridgeHandler", "ClientHub", "build_bridge", "build_bridge_app"]

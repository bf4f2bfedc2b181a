"""The gateway's ``Handler`` for the transport front: turns each client message into a ``Call``, runs it
through the chain, and answers the handshake (``initialize`` / ``server/discover``) as the one virtual
server the group appears as."""

from __future__ import annotations

import contextlib
from typing import Any

from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from hivekeeper import __version__
from hivekeeper.auth.identity import CURRENT_CALLER, Caller
from hivekeeper.gateway.chain import CLEANUP, DENIED, Call, Handler, RpcError
from hivekeeper.transport.backend import Exchange
from hivekeeper.transport.front import Session
from hivekeeper.transport.jsonrpc import (
    LIST_METHODS,
    SERVER_INFO_META_KEY,
    Message,
    error_body,
    negotiate_handshake_version,
)

CAPABILITIES: dict[str, Any] = {
    "tools": {"listChanged": True},
    "prompts": {"listChanged": True},
    "resources": {"listChanged": True, "subscribe": True},
    "completions": {},
    "logging": {},
}
_OWNER = "hivekeeper.subject"
_SUBSCRIPTION_METHODS = frozenset({"resources/subscribe", "resources/unsubscribe"})


class GatewayHandler:
    def __init__(self, chain: Handler, *, name: str, instructions: str | None = None) -> None:
        self.chain = chain
        self.server_info = {"name": name, "version": __version__}
        self.instructions = instructions
        # session (or listen stream) id → who last subscribed on it: the caller its updates are asked for
        self._holders: dict[str, Caller] = {}

    async def handle(self, session: Session, message: Message, exchange: Exchange) -> Message:
        method: str = message["method"]
        params = message.get("params")
        params = params if isinstance(params, dict) else {}
        caller = CURRENT_CALLER.get()
        if session.id is not None:
            # A legacy session belongs to whoever opened it: a leaked session id is useless to anyone else.
            owner = session.state.setdefault(_OWNER, caller.subject)
            if owner != caller.subject:
                return error_body(DENIED, "this session belongs to another caller")
        if method == "initialize":
            return {"result": self._initialize_result(params.get("protocolVersion"))}
        if method == "server/discover":
            return {"result": self._discover_result()}
        call = _call(session, method, params, caller, request_id=message.get("id"), exchange=exchange)
        try:
            result = await self.chain(call)
        except RpcError as exc:
            return {"error": exc.to_error()}
        if method in _SUBSCRIPTION_METHODS:  # the front sends a session the updates of the URIs it holds
            uri = str(params.get("uri"))
            if method == "resources/subscribe":
                session.resource_subscriptions.add(uri)
                if session.id is not None:
                    self._holders[session.id] = caller
            else:
                session.resource_subscriptions.discard(uri)
        if session.modern and "resultType" not in result:
            result = {**result, "resultType": "complete"}
            if method in LIST_METHODS:
                result.update(ttlMs=0, cacheScope="private")
        return {"result": result}

    async def notification(self, session: Session, message: Message) -> None:
        """Client notifications concern one client, and the group's backends are shared: nothing to forward."""

    async def session_closed(self, session: Session) -> None:
        """Let go of the session's (or listen stream's) resource subscriptions: backends are told once nobody
        else holds them. Cleanup, not a request: the chain audits it, and nothing refuses it."""
        caller = CURRENT_CALLER.get()  # whoever ended it (DELETE, a closed stream), else anonymous (expiry)
        reason = "listen stream closed" if session.modern else "session closed"
        for uri in list(session.resource_subscriptions):
            call = _call(session, "resources/unsubscribe", {"uri": uri}, caller)
            call.notes[CLEANUP] = reason
            with contextlib.suppress(RpcError):  # the router let go of what it could: nothing more to undo
                await self.chain(call)
        session.resource_subscriptions.clear()
        if session.id is not None:
            self._holders.pop(session.id, None)

    def holder(self, session: Session) -> Caller | None:
        """Who holds ``session``'s resource subscriptions (None if it holds none)."""
        return self._holders.get(session.id) if session.id is not None else None

    def _initialize_result(self, requested: Any) -> Message:
        result: Message = {
            "protocolVersion": negotiate_handshake_version(requested),
            "capabilities": CAPABILITIES,
            "serverInfo": self.server_info,
        }
        if self.instructions:
            result["instructions"] = self.instructions
        return result

    def _discover_result(self) -> Message:
        result: Message = {
            "supportedVersions": list(MODERN_PROTOCOL_VERSIONS),
            "capabilities": CAPABILITIES,
            "resultType": "complete",
            "ttlMs": 0,
            "cacheScope": "private",
            "_meta": {SERVER_INFO_META_KEY: self.server_info},
        }
        if self.instructions:
            result["instructions"] = self.instructions
        return result


def _call(
    session: Session,
    method: str,
    params: dict[str, Any],
    caller: Caller,
    *,
    request_id: str | int | None = None,
    exchange: Exchange | None = None,
) -> Call:
    return Call(
        method=method,
        params=params,
        caller=caller,
        request_id=request_id,
        session_id=session.id,
        protocol_version=session.protocol_version,
        client_name=client_name(session),
        exchange=exchange,
    )


def client_name(session: Session) -> str | None:
    """The name the session's client gave (``clientInfo.name``), as policies see it in ``context.client``."""
    name = (session.client_info or {}).get("name")
    return name if isinstance(name, str) else None

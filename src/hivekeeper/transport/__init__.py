"""MCP transports: put any MCP server, of either protocol era, behind any other transport.

The pieces, smallest first:

* ``Backend`` — one upstream server. ``await backend.start()``, then
  ``await backend.call(method, params, exchange=..., timeout=...)`` returns the upstream's response message
  (``result`` or ``error``; never raises for upstream trouble), ``await backend.notify(method, params)``, and
  ``backend.listener`` (a ``BackendListener``) receives what the upstream sends outside any call.
  ``StdioBackend(launcher)`` runs a process (``command_launcher(argv)``, or any runtime's launcher returning a
  ``hivekeeper.runtime.base.Process``); ``HttpBackend(url)`` reaches a remote Streamable HTTP or SSE server.
* ``Exchange`` — the client side of one call: its era and capabilities, and how to reach it mid-call
  (``notify`` for progress/logging, ``request`` for sampling/elicitation/roots). Backends adapt eras per call.
* ``McpFront(handler, settings)`` — the HTTP side for clients of both eras (``/mcp``, ``/sse``,
  ``/messages``) as an ASGI app; it hands each request to a ``Handler``:
  ``handle(session, message, exchange)``, ``notification(session, message)``, ``session_closed(session)``.
  ``broadcast(message)`` / ``request_any(message)`` reach clients outside a call. A ``SessionStore``
  (``MemorySessionStore``, or your Redis one) lets 2025-era sessions continue across replicas.
* ``build_bridge(backend)`` — front + ``BridgeHandler`` passing everything to one backend: the proxy.
* ``StdioFront(backend)`` — one client on stdin/stdout in front of a backend.
"""

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hivekeeper.transport.backend import (
        Backend,
        BackendListener,
        BackendUnavailable,
        Era,
        Exchange,
        ServerIdentity,
    )
    from hivekeeper.transport.bridge import BridgeHandler, ClientHub, build_bridge, build_bridge_app
    from hivekeeper.transport.front import FrontSettings, Handler, McpFront
    from hivekeeper.transport.jsonrpc import Message, RpcError
    from hivekeeper.transport.remote import HttpBackend
    from hivekeeper.transport.sessions import MemorySessionStore, Session, SessionRecord, SessionStore
    from hivekeeper.transport.stdio import Launcher, StdioBackend, command_launcher
    from hivekeeper.transport.stdio_front import StdioFront

# Names load on first use: `hivekeeper proxy` starts its server process before paying for starlette and
# uvicorn, and never pays for httpx (~9 MB) unless it proxies a URL.
_HOMES = {
    "backend": ("Backend", "BackendListener", "BackendUnavailable", "Era", "Exchange", "ServerIdentity"),
    "bridge": ("BridgeHandler", "ClientHub", "build_bridge", "build_bridge_app"),
    "front": ("FrontSettings", "Handler", "McpFront"),
    "jsonrpc": ("Message", "RpcError"),
    "remote": ("HttpBackend",),
    "sessions": ("MemorySessionStore", "Session", "SessionRecord", "SessionStore"),
    "stdio": ("Launcher", "StdioBackend", "command_launcher"),
    "stdio_front": ("StdioFront",),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> object:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'hivekeeper.transport' has no attribute {name!r}")
    return getattr(importlib.import_module(f"hivekeeper.transport.{module}"), name)


__all__ = [
    "Backend",
    "BackendListener",
    "BackendUnavailable",
    "BridgeHandler",
    "ClientHub",
    "Era",
    "Exchange",
    "FrontSettings",
    "Handler",
    "HttpBackend",
    "Launcher",
    "McpFront",
    "MemorySessionStore",
    "Message",
    "RpcError",
    "ServerIdentity",
    "Session",
    "SessionRecord",
    "SessionStore",
    "StdioBackend",
    "StdioFront",
    "build_bridge",
    "build_bridge_app",
    "command_launcher",
]

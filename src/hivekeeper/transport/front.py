"""``McpFront``: the client side of MCP over HTTP, both eras, as one ASGI app; routing is left to a ``Handler``.

The front is itself an ASGI app (``/mcp``, ``/sse``, ``/messages``, ``/healthz``, lifespan included); ``routes()``
and ``app()`` (a Starlette app) are for mounting it beside other things.

* ``/mcp``: Streamable HTTP. A request whose ``Mcp-Protocol-Version`` header names anything but a 2025-era
  (handshake) version is a self-contained 2026-07-28 request (``server/discover``, ``_meta`` envelope,
  ``Mcp-Method``/``Mcp-Name`` checked against the body, unknown versions refused with -32022,
  ``subscriptions/listen`` streams; closing the response stream cancels the call). A listen stream's
  ``resourceSubscriptions`` go to the handler as the ``resources/subscribe`` requests a 2025 client would
  send, on a session of the stream's own; the acknowledgment names those it accepted, and ``session_closed``
  releases them when the stream ends. Anything else is
  2025-11-25: ``initialize`` opens a session (``Mcp-Session-Id``), GET opens the session's stream for
  server-initiated messages, every SSE event carries an id so a client can resume with ``Last-Event-ID``,
  DELETE ends the session.
* ``/sse`` + ``/messages``: the 2024-11-05 HTTP+SSE transport, for old clients.

The front owns everything protocol-shaped: headers, eras, sessions, SSE, validation (each bad input gets the
HTTP status and JSON-RPC error the spec names, never a traceback), ``ping``, client cancellation and responses
to server-initiated requests. Each client request goes to ``Handler.handle(session, message, exchange)``; the
``Exchange`` lets the handler's backend stream notifications back and ask the client questions mid-call.
The handler's answer is a response body (``result`` or ``error``); the front puts the client's id on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, Protocol
from urllib.parse import parse_qs, urlsplit

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from hivekeeper.transport.backend import Exchange
from hivekeeper.transport.envelope import ERROR_HTTP_STATUS, EnvelopeError, check_request, unsupported_version
from hivekeeper.transport.jsonrpc import (
    HANDSHAKE_PROTOCOL_VERSIONS,
    HEADER_MISMATCH,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    MODERN_PROTOCOL_VERSIONS,
    PARSE_ERROR,
    Message,
    RequestId,
    as_object,
    dumps,
    error_body,
    is_request_id,
    loads,
)
from hivekeeper.transport.sessions import (
    LegacySession,
    MemorySessionStore,
    Session,
    SessionExchange,
    SessionRecord,
    SessionStore,
    SseStream,
    record_of,
)

logger = logging.getLogger(__name__)

LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
ROUTING_HEADERS: Final = frozenset({b"mcp-protocol-version", b"mcp-method", b"mcp-name"})
LISTEN_FILTERS: Final = {
    "notifications/tools/list_changed": "toolsListChanged",
    "notifications/prompts/list_changed": "promptsListChanged",
    "notifications/resources/list_changed": "resourcesListChanged",
}
REMOVED_IN_2026: Final = frozenset(
    {"initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"}
)
"""2025-era methods a 2026-07-28 request may not use (404/-32601, as the spec's server-stateless rules ask)."""
RESOURCE_UPDATED: Final = "notifications/resources/updated"
SUBSCRIPTION_ID_META_KEY: Final = "io.modelcontextprotocol/subscriptionId"
RESUMABLE_STREAMS_PER_SESSION: Final = 64
DISCONNECT_WATCH_AFTER: Final = 0.5
"""Seconds a 2026-era call runs before the front starts watching for the client hanging up (its cancel)."""
DUPLICATED_MARK: Final = "\0duplicated"  # not a legal header name, so no client can send it

_JSON_HEADERS: Final = [(b"content-type", b"application/json")]
_SSE_HEADERS: Final = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
]


@dataclass(frozen=True)
class FrontSettings:
    """Limits and checks applied to every client request."""

    max_body: int = 4 * 1024 * 1024
    session_ttl: float = 3600.0
    """Idle seconds after which a 2025-era session is forgotten (its id then answers 404)."""
    request_timeout: float = 60.0
    """Longest wait for a client's answer to a server-initiated request."""
    loopback_only: bool = True
    """Accept only loopback ``Host`` headers (DNS-rebinding protection for a loopback-bound server)."""
    allowed_origins: frozenset[str] = frozenset()
    """Browser origins allowed besides loopback ones, e.g. ``https://app.example.com``."""
    event_log: int = 256
    """SSE events kept per stream for ``Last-Event-ID`` replay."""


class Handler(Protocol):
    """Routes client messages; the bridge passes them to one backend, the gateway to many."""

    async def handle(self, session: Session, message: Message, exchange: Exchange) -> Message:
        """Answer one request (``initialize`` and ``server/discover`` included) with ``result`` or ``error``.

        Also gets ``resources/subscribe`` for each URI a 2026 ``subscriptions/listen`` stream asks updates of
        (the session is the stream's, with an id of its own): a result means the stream holds the URI."""
        ...

    async def notification(self, session: Session, message: Message) -> None:
        """A client notification the front does not consume itself (e.g. ``notifications/roots/list_changed``)."""
        ...

    async def session_closed(self, session: Session) -> None:
        """A 2025 session or a 2026 listen stream ended: let go of what it held."""
        ...


class _HttpExchange(SessionExchange):
    """An exchange answering on one HTTP response: JSON if nothing streams first, else SSE."""

    __slots__ = ("front", "scope_send", "stream", "stream_key")

    def __init__(self, front: McpFront, session: Session, send: Send, stream_key: str | None) -> None:
        super().__init__(session)
        self.front = front
        self.scope_send = send
        self.stream_key = stream_key  # None: not resumable (2026 era, or 2024 SSE where the stream is shared)
        self.stream: SseStream | None = None

    async def commit(self) -> SseStream:
        if self.stream is None:
            key = self.stream_key
            stream = SseStream(key or "", resumable=key is not None, log_limit=self.front.settings.event_log)
            stream.send = self.scope_send
            self.stream = stream
            headers = list(_SSE_HEADERS)
            if isinstance(self.session, LegacySession):
                headers.append((b"mcp-session-id", self.session.id.encode()))  # type: ignore[union-attr]
                if key is not None:
                    self.session.streams[key] = stream
                    while len(self.session.streams) > RESUMABLE_STREAMS_PER_SESSION:
                        self.session.streams.popitem(last=False)
            await self.scope_send({"type": "http.response.start", "status": 200, "headers": headers})
            if key is not None:
                await stream.emit(None)  # priming event: gives the client an id to resume from at once
        return self.stream

    async def notify(self, message: Message) -> None:
        await (await self.commit()).emit(message)

    async def request(self, message: Message) -> Message:
        session = self.session
        if not isinstance(session, LegacySession):
            return await super().request(message)
        return await self.front._ask(session, message, (await self.commit()).emit)


class _SseExchange(Exchange):
    """An exchange for the 2024-11-05 transport: everything goes out on the session's one SSE stream."""

    __slots__ = ("front", "session")

    def __init__(self, front: McpFront, session: LegacySession) -> None:
        super().__init__(
            client_capabilities=session.client_capabilities,
            client_info=session.client_info,
            log_level=session.log_level,
        )
        self.front = front
        self.session = session

    async def notify(self, message: Message) -> None:
        await self.session.standalone.emit(message)

    async def request(self, message: Message) -> Message:
        return await self.front._ask(self.session, message, self.session.standalone.emit)


class _Rejection(Exception):
    """A request refused before it reached the handler: HTTP status plus JSON-RPC error."""

    def __init__(
        self, status: int, code: int, message: str, *, request_id: RequestId | None = None, data: Any = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: Message = {"jsonrpc": "2.0", "id": request_id, **error_body(code, message, data)}


class McpFront:
    """Serves MCP clients of every era over HTTP and hands their requests to ``handler``."""

    def __init__(
        self,
        handler: Handler,
        settings: FrontSettings | None = None,
        *,
        is_ready: Callable[[], bool] | None = None,
        session_store: SessionStore | None = None,
    ) -> None:
        """``is_ready`` answers ``/healthz`` (200 or 503); without it the front is healthy while it serves.
        ``session_store`` shares 2025-era sessions between replicas; without it they live in this process."""
        self.handler = handler
        self.session_store = session_store
        self.settings = settings if settings is not None else FrontSettings()
        self._is_ready = is_ready if is_ready is not None else (lambda: True)
        self._endpoints = {
            "/mcp": self._mcp_endpoint,
            "/sse": self._sse_endpoint,
            "/messages": self._messages_endpoint,
            "/messages/": self._messages_endpoint,
            "/healthz": self._health,
        }
        self._sessions: dict[str, LegacySession] = {}
        self._listeners: dict[int, tuple[Message, SseStream, RequestId, Session]] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # ---- composition --------------------------------------------------------------------------------------

    def routes(self, prefix: str = "") -> list[BaseRoute]:
        return [
            Route(f"{prefix}/mcp", _Asgi(self._mcp_endpoint)),
            Route(f"{prefix}/sse", _Asgi(self._sse_endpoint)),
            Route(f"{prefix}/messages", _Asgi(self._messages_endpoint)),
            Route(f"{prefix}/messages/", _Asgi(self._messages_endpoint)),
        ]

    def app(self) -> Starlette:
        """The routes in a Starlette app whose lifespan starts and stops the front (to mount beside others)."""

        @contextlib.asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.aclose()

        return Starlette(routes=[*self.routes(), Route("/healthz", _Asgi(self._health))], lifespan=lifespan)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The front as a bare ASGI app (what ``hivekeeper proxy`` serves): no router or middleware per request."""
        kind = scope["type"]
        if kind == "http":
            endpoint = self._endpoints.get(scope["path"])
            if endpoint is not None:
                await endpoint(scope, receive, send)
            else:
                await _send_json(send, 404, {"jsonrpc": "2.0", "id": None, **error_body(INVALID_REQUEST, "Not Found")})
        elif kind == "lifespan":
            while True:
                event = await receive()
                if event["type"] == "lifespan.startup":
                    await self.start()
                    await send({"type": "lifespan.startup.complete"})
                elif event["type"] == "lifespan.shutdown":
                    await self.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    async def _health(self, scope: Scope, receive: Receive, send: Send) -> None:
        ready = self._is_ready()
        await _send_json(send, 200 if ready else 503, {"status": "ok" if ready else "unavailable"})

    async def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep(), name="mcp session sweeper")

    async def aclose(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        for session in list(self._sessions.values()):
            await self._close_session(session, ended=self.session_store is None)
        for task in list(self._tasks):
            task.cancel()

    @property
    def session_count(self) -> int:
        return len(self._sessions)

    # ---- pushing to clients ---------------------------------------------------------------------------------

    async def broadcast(self, message: Message, *, to: Callable[[Session], bool] | None = None) -> None:
        """Send a server notification to every client that can receive one outside a call (and that ``to``,
        when given, admits: it is asked of each session or listen stream the notification would reach)."""
        updated_uri = as_object(message.get("params")).get("uri") if message.get("method") == RESOURCE_UPDATED else None
        for session in list(self._sessions.values()):
            if (updated_uri is None or updated_uri in session.resource_subscriptions) and (to is None or to(session)):
                await session.standalone.emit(message)
        if self._listeners:
            method = message.get("method")
            params = as_object(message.get("params"))
            for notifications, stream, subscription, listener in list(self._listeners.values()):
                if _listens_for(notifications, method, params) and (to is None or to(listener)):
                    meta = {**(params.get("_meta") or {}), SUBSCRIPTION_ID_META_KEY: subscription}
                    await stream.emit({**message, "params": {**params, "_meta": meta}})

    async def request_any(self, message: Message) -> Message:
        """Ask a server-initiated request outside any call of the client most recently active on its stream."""
        candidates = [s for s in self._sessions.values() if s.standalone.send is not None]
        if not candidates:
            return error_body(INTERNAL_ERROR, f"no connected client can answer {message.get('method')}")
        session = max(candidates, key=lambda s: s.last_seen)
        return await self._ask(session, message, session.standalone.emit)

    async def _ask(self, session: LegacySession, message: Message, emit: Any) -> Message:
        session.next_out_id += 1
        out_id = f"hk-{session.next_out_id}"
        waiter: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        session.outgoing[out_id] = waiter
        try:
            await emit({"jsonrpc": "2.0", "id": out_id, **message})
            return await asyncio.wait_for(waiter, self.settings.request_timeout)
        except TimeoutError:
            return error_body(
                INTERNAL_ERROR,
                f"client did not answer {message.get('method')} within {self.settings.request_timeout:g} s",
            )
        finally:
            session.outgoing.pop(out_id, None)

    # ---- /mcp ---------------------------------------------------------------------------------------------

    async def _mcp_endpoint(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            headers = self._check_peer(scope)
            version = headers.get("mcp-protocol-version")
            if version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS:
                await self._modern(scope, receive, send, headers)
            else:
                await self._legacy(scope, receive, send, headers)
        except _Rejection as rejection:
            await _send_json(send, rejection.status, rejection.body, _rejection_headers(rejection))

    def _check_peer(self, scope: Scope) -> dict[str, str]:
        """Decode headers once; refuse foreign browser origins and (loopback-bound) foreign Host names."""
        headers: dict[str, str] = {}
        routing_seen: set[bytes] = set()
        duplicated: bytes | None = None
        for raw_name, raw_value in scope["headers"]:
            if raw_name in ROUTING_HEADERS:
                if raw_name in routing_seen:
                    duplicated = raw_name
                routing_seen.add(raw_name)
            headers[raw_name.decode("latin-1")] = raw_value.decode("latin-1")
        if duplicated is not None:
            headers[DUPLICATED_MARK] = duplicated.decode()
        origin = headers.get("origin")
        if origin is not None and not self._origin_allowed(origin):
            raise _Rejection(403, INVALID_REQUEST, f"Forbidden: origin {origin} is not allowed")
        if self.settings.loopback_only:
            host = headers.get("host", "")
            hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if hostname.lower() not in LOOPBACK_HOSTS:
                raise _Rejection(421, INVALID_REQUEST, f"Misdirected: host {host!r} is not a loopback name")
        return headers

    def _origin_allowed(self, origin: str) -> bool:
        if origin in self.settings.allowed_origins:
            return True
        try:
            parts = urlsplit(origin)
        except ValueError:
            return False
        return parts.scheme in ("http", "https") and (parts.hostname or "") in LOOPBACK_HOSTS

    async def _read_json(self, scope: Scope, receive: Receive, headers: dict[str, str]) -> Any:
        content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type != "application/json":
            raise _Rejection(415, INVALID_REQUEST, "Unsupported Media Type: Content-Type must be application/json")
        limit = self.settings.max_body
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _Rejection(413, INVALID_REQUEST, f"Payload Too Large: the body exceeds {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            event = await receive()
            if event["type"] == "http.disconnect":
                raise _Rejection(400, INVALID_REQUEST, "client disconnected mid-body")
            chunk = event.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _Rejection(413, INVALID_REQUEST, f"Payload Too Large: the body exceeds {limit} bytes")
            chunks.append(chunk)
            if not event.get("more_body", False):
                break
        try:
            return loads(b"".join(chunks))
        except ValueError as exc:  # orjson rejects invalid UTF-8, deep nesting and bad numbers as well
            raise _Rejection(400, PARSE_ERROR, f"Parse error: {exc}") from None

    async def _modern(self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str]) -> None:
        if scope["method"] != "POST":
            await _send_json(
                send,
                405,
                {"jsonrpc": "2.0", "id": None, **error_body(INVALID_REQUEST, "Method Not Allowed: use POST")},
                [(b"allow", b"POST")],
            )
            return
        _require_accept(headers, sse=True)
        message = _validated(await self._read_json(scope, receive, headers))
        request_id: RequestId = message.get("id", "")
        if "id" not in message:
            if "method" not in message:
                raise _Rejection(400, INVALID_REQUEST, "Body must be a single JSON-RPC request or notification")
            requested = headers["mcp-protocol-version"]
            if requested not in MODERN_PROTOCOL_VERSIONS:
                raise _ladder(unsupported_version(requested), None)
            # 2026-07-28 defines no client notifications over HTTP (cancelling is closing the stream).
            await _send_empty(send, 202)
            return
        if "method" not in message:
            raise _Rejection(400, INVALID_REQUEST, "a 2026-07-28 client must not POST responses", request_id=request_id)
        duplicated = headers.get(DUPLICATED_MARK)
        if duplicated is not None:
            raise _Rejection(400, HEADER_MISMATCH, f"{duplicated} header appears more than once", request_id=request_id)
        envelope = check_request(message, headers)
        if isinstance(envelope, EnvelopeError):
            raise _ladder(envelope, request_id)
        session = Session(
            None,
            modern=True,
            protocol_version=envelope.protocol_version,
            client_capabilities=envelope.client_capabilities,
            client_info=envelope.client_info,
        )
        if message["method"] in REMOVED_IN_2026:
            raise _Rejection(
                404,
                METHOD_NOT_FOUND,
                f"Method not found: {message['method']} is not part of 2026-07-28",
                request_id=request_id,
            )
        if message["method"] == "subscriptions/listen":
            await self._listen(session, message, send, receive)
            return
        if message["method"] == "tools/call":
            await self._check_param_headers(message, headers)
        exchange = _HttpExchange(self, session, send, None)
        # A 2026 client cancels by closing the stream. Watching for that costs a task, so only calls still
        # running after a moment get a watcher; quick calls (nearly all) pay for one timer.
        loop = asyncio.get_running_loop()
        watcher: list[asyncio.Task[None]] = []
        timer = loop.call_later(
            DISCONNECT_WATCH_AFTER, lambda: watcher.append(loop.create_task(_cancel_on_disconnect(receive, exchange)))
        )
        try:
            body = await self._dispatch(session, message, exchange)
        finally:
            timer.cancel()
            for task in watcher:
                task.cancel()
        await self._finish(send, exchange, request_id, body, modern=True, extra_headers=())

    async def _check_param_headers(self, message: Message, headers: dict[str, str]) -> None:
        """``Mcp-Param-*`` headers must mirror the arguments the tool's schema marks with ``x-mcp-header``.

        The server behind the proxy never sees HTTP headers, so the proxy checks them. It asks the handler
        (``param_header_schema(name)``, optional) for the schema of a tool that declares such headers; only then
        does it load the SDK's validator (heavy to import, and most tools declare none).
        """
        lookup = getattr(self.handler, "param_header_schema", None)
        params = as_object(message.get("params"))
        name, arguments = params.get("name"), params.get("arguments")
        if lookup is None or not isinstance(name, str) or not isinstance(arguments, dict | None):
            return
        if not arguments and not any(header.startswith("mcp-param-") for header in headers):
            return
        try:
            schema = await lookup(name)
        except Exception:  # fail open, like the SDK: header checks must never break a working call
            logger.exception("Mcp-Param header check skipped: looking up %s failed", name)
            return
        if schema is None:
            return
        from mcp.shared.inbound import validate_mcp_param_headers

        rejection = validate_mcp_param_headers(schema, arguments or {}, headers)
        if rejection is not None:
            raise _Rejection(400, rejection.code, rejection.message, request_id=message["id"])

    async def _dispatch(self, session: Session, message: Message, exchange: Exchange) -> Message:
        if message["method"] == "ping":
            return {"result": {}}
        try:
            return await self.handler.handle(session, message, exchange)
        except Exception:
            logger.exception("handler failed on %s", message.get("method"))
            return error_body(INTERNAL_ERROR, f"internal error while handling {message.get('method')}")

    async def _finish(
        self,
        send: Send,
        exchange: _HttpExchange,
        request_id: RequestId,
        body: Message,
        *,
        modern: bool,
        extra_headers: Iterable[tuple[bytes, bytes]],
    ) -> None:
        reply: Message = {"jsonrpc": "2.0", "id": request_id}
        error = body.get("error")
        if error is not None:
            reply["error"] = error
        else:
            reply["result"] = body.get("result")
        stream = exchange.stream
        if stream is None:
            status = ERROR_HTTP_STATUS.get(error.get("code"), 200) if modern and error else 200
            await _send_json(send, status, reply, extra_headers)
            return
        await stream.emit(reply)
        stream.done.set()
        with contextlib.suppress(Exception):
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _listen(self, session: Session, message: Message, send: Send, receive: Receive) -> None:
        params = as_object(message.get("params"))
        wanted = as_object(params.get("notifications"))
        accepted: Message = {k: True for k in LISTEN_FILTERS.values() if wanted.get(k)}
        subscription = message["id"]
        # The stream's resource holds outlive this request's handling: name them apart from every other holder's.
        session.id = f"listen-{secrets.token_urlsafe(12)}"
        stream = SseStream("", resumable=False, log_limit=0)
        stream.send = send
        await send({"type": "http.response.start", "status": 200, "headers": list(_SSE_HEADERS)})
        key = id(stream)
        try:
            held = await self._hold_resources(session, wanted.get("resourceSubscriptions"), subscription)
            if held:
                accepted["resourceSubscriptions"] = held
            meta = {SUBSCRIPTION_ID_META_KEY: subscription}
            await stream.emit(
                {
                    "jsonrpc": "2.0",
                    "method": "notifications/subscriptions/acknowledged",
                    "params": {"notifications": accepted, "_meta": meta},
                }
            )
            self._listeners[key] = (accepted, stream, subscription, session)
            await _disconnected(receive)
        finally:
            self._listeners.pop(key, None)
            await self._session_closed(session)

    async def _hold_resources(self, session: Session, uris: Any, subscription: RequestId) -> list[str]:
        """Ask the handler for each URI as a 2025 client's ``resources/subscribe`` (so it is authorized, counted
        and audited alike); the ones it accepts are what the stream honors (the spec's acknowledged subset)."""
        if not isinstance(uris, list):
            return []
        exchange = SessionExchange(session)
        held: list[str] = []
        for uri in dict.fromkeys(uri for uri in uris if isinstance(uri, str)):
            request = {"jsonrpc": "2.0", "id": subscription, "method": "resources/subscribe", "params": {"uri": uri}}
            if "result" in await self._dispatch(session, request, exchange):
                held.append(uri)
        return held

    # ---- 2025-11-25 ---------------------------------------------------------------------------------------

    async def _legacy(self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str]) -> None:
        method = scope["method"]
        if method == "POST":
            await self._legacy_post(scope, receive, send, headers)
        elif method == "GET":
            _require_accept(headers, json=False, sse=True)
            session = await self._session_from(headers)
            await self._legacy_get(session, headers, send, receive)
        elif method == "DELETE":
            session = await self._session_from(headers)
            await self._close_session(session)
            await _send_empty(send, 200)
        else:
            await _send_json(
                send,
                405,
                {"jsonrpc": "2.0", "id": None, **error_body(INVALID_REQUEST, "Method Not Allowed")},
                [(b"allow", b"GET, POST, DELETE")],
            )

    async def _session_from(self, headers: dict[str, str]) -> LegacySession:
        session_id = headers.get("mcp-session-id")
        if session_id is None:
            raise _Rejection(400, INVALID_REQUEST, "Bad Request: Missing session ID")
        session = self._sessions.get(session_id)
        if session is None and self.session_store is not None:
            session = await self._adopt(session_id)
        if session is None:
            raise _Rejection(404, INVALID_REQUEST, "Not Found: Invalid or expired session ID")
        now = session.last_seen = time.monotonic()
        if self.session_store is not None and now - session.stored_at > self.settings.session_ttl / 4:
            # Now and then (not per request): refresh the shared record, unless another replica ended it.
            if await self.session_store.get(session_id) is None:
                await self._close_session(session, ended=False)
                raise _Rejection(404, INVALID_REQUEST, "Not Found: Invalid or expired session ID")
            session.stored_at = now
            await self.session_store.put(record_of(session), self.settings.session_ttl)
        return session

    async def _adopt(self, session_id: str) -> LegacySession | None:
        """Continue a session another replica began, from its shared record."""
        assert self.session_store is not None
        record = await self.session_store.get(session_id)
        if record is None:
            return None
        session = LegacySession(
            record.id,
            protocol_version=record.protocol_version,
            params={"capabilities": record.client_capabilities, "clientInfo": record.client_info},
            log_limit=self.settings.event_log,
        )
        session.state.update(record.state)
        self._sessions[session.id] = session  # type: ignore[index]
        return session

    async def _legacy_post(self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str]) -> None:
        _require_accept(headers, sse=True)
        message = _validated(await self._read_json(scope, receive, headers))
        if message.get("method") == "initialize" and "id" in message:
            await self._initialize(message, send, headers)
            return
        session = await self._session_from(headers)
        session_header = [(b"mcp-session-id", session.id.encode())]  # type: ignore[union-attr]
        if "method" not in message or "id" not in message:
            await _send_empty(send, 202, session_header)
            await self._client_message(session, message)
            return
        request_id = message["id"]
        session.next_stream_id += 1
        exchange = _HttpExchange(self, session, send, f"p{session.next_stream_id}")
        session.inflight[request_id] = exchange
        try:
            body = await self._dispatch(session, message, exchange)
        finally:
            session.inflight.pop(request_id, None)
            session.last_seen = time.monotonic()
        await self._finish(send, exchange, request_id, body, modern=False, extra_headers=session_header)

    async def _initialize(self, message: Message, send: Send, headers: dict[str, str]) -> None:
        params = as_object(message.get("params"))
        session = LegacySession(
            secrets.token_urlsafe(24),
            protocol_version=str(params.get("protocolVersion")),
            params=params,
            log_limit=self.settings.event_log,
        )
        exchange = _HttpExchange(self, session, send, None)
        body = await self._dispatch(session, message, exchange)
        result = body.get("result")
        if isinstance(result, dict):
            session.protocol_version = str(result.get("protocolVersion", session.protocol_version))
            self._sessions[session.id] = session  # type: ignore[index]
            if self.session_store is not None:
                await self.session_store.put(record_of(session), self.settings.session_ttl)
        await self._finish(
            send,
            exchange,
            message["id"],
            body,
            modern=False,
            extra_headers=[(b"mcp-session-id", session.id.encode())] if isinstance(result, dict) else [],  # type: ignore[union-attr]
        )

    async def _client_message(self, session: LegacySession, message: Message) -> None:
        """A client notification or a client's answer to a server-initiated request."""
        if "method" not in message:
            waiter = session.outgoing.get(message.get("id"))  # type: ignore[arg-type]
            if waiter is not None and not waiter.done():
                waiter.set_result({k: v for k, v in message.items() if k in ("result", "error")})
            return
        method = message["method"]
        if method == "notifications/initialized":
            return  # the proxy initialized the upstream itself
        if method == "notifications/cancelled":
            params = message.get("params") or {}
            exchange = session.inflight.get(params.get("requestId"))  # type: ignore[arg-type]
            if exchange is not None:
                exchange.cancel(str(params.get("reason") or "cancelled by the client"))
            return
        try:
            await self.handler.notification(session, message)
        except Exception:
            logger.exception("handler failed on notification %s", method)

    async def _legacy_get(self, session: LegacySession, headers: dict[str, str], send: Send, receive: Receive) -> None:
        last_event = headers.get("last-event-id")
        if last_event is not None:
            key, _, seq = last_event.rpartition(":")
            stream = session.streams.get(key)
            if stream is None or not seq.isdigit():
                raise _Rejection(404, INVALID_REQUEST, f"Not Found: no stream to resume from event {last_event!r}")
            backlog = stream.replay_after(int(seq))
        else:
            stream, backlog = session.standalone, []
            if stream.send is not None:
                raise _Rejection(409, INVALID_REQUEST, "Conflict: Only one SSE stream is allowed per session")
        start_headers = [*_SSE_HEADERS, (b"mcp-session-id", session.id.encode())]  # type: ignore[union-attr]
        await send({"type": "http.response.start", "status": 200, "headers": start_headers})
        for frame in backlog:
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        if stream.done.is_set():
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        stream.send = send
        try:
            await _until_any(_disconnected(receive), stream.done.wait(), session.closed.wait())
        finally:
            if stream.send is send:
                stream.send = None
        with contextlib.suppress(Exception):
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _close_session(self, session: LegacySession, *, ended: bool = True) -> None:
        """Drop a session here; ``ended`` (DELETE, or no shared store) also removes it for every replica."""
        if self._sessions.pop(session.id, None) is None:  # type: ignore[arg-type]
            return
        if ended and self.session_store is not None:
            await self.session_store.delete(session.id)  # type: ignore[arg-type]
        session.closed.set()
        for exchange in list(session.inflight.values()):
            exchange.cancel("session ended")
        for waiter in session.outgoing.values():
            if not waiter.done():
                waiter.set_result(error_body(INTERNAL_ERROR, "session ended"))
        await self._session_closed(session)

    async def _session_closed(self, session: Session) -> None:
        try:
            await self.handler.session_closed(session)
        except Exception:
            logger.exception("handler failed closing session")

    async def _sweep(self) -> None:
        ttl = self.settings.session_ttl
        while True:
            await asyncio.sleep(min(max(ttl / 4, 0.05), 30.0))
            cutoff = time.monotonic() - ttl
            for session in list(self._sessions.values()):
                if session.last_seen < cutoff and not session.inflight and session.standalone.send is None:
                    # With a shared store the session may be busy on another replica: only forget it here.
                    await self._close_session(session, ended=self.session_store is None)

    # ---- 2024-11-05 HTTP+SSE --------------------------------------------------------------------------------

    async def _sse_endpoint(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            self._check_peer(scope)
            if scope["method"] != "GET":
                raise _Rejection(405, INVALID_REQUEST, "Method Not Allowed: GET /sse opens the stream")
        except _Rejection as rejection:
            await _send_json(send, rejection.status, rejection.body, _rejection_headers(rejection))
            return
        session = LegacySession(secrets.token_hex(16), protocol_version="2024-11-05", params={}, log_limit=1)
        session.standalone.resumable = False
        session.state["transport"] = "sse"
        self._sessions[session.id] = session  # type: ignore[index]
        await send({"type": "http.response.start", "status": 200, "headers": list(_SSE_HEADERS)})
        endpoint = f"{scope.get('root_path', '')}/messages/?session_id={session.id}"
        await send(
            {
                "type": "http.response.body",
                "body": b"event: endpoint\ndata: %s\n\n" % endpoint.encode(),
                "more_body": True,
            }
        )
        session.standalone.send = send
        try:
            await _until_any(_disconnected(receive), session.closed.wait())
        finally:
            session.standalone.send = None
            await self._close_session(session)
        with contextlib.suppress(Exception):
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _messages_endpoint(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            headers = self._check_peer(scope)
            if scope["method"] != "POST":
                raise _Rejection(405, INVALID_REQUEST, "Method Not Allowed: POST messages here")
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            session_id = (query.get("session_id") or [None])[0]
            if session_id is None:
                raise _Rejection(400, INVALID_REQUEST, "Bad Request: session_id is required")
            session = self._sessions.get(session_id)
            if session is None or session.state.get("transport") != "sse":
                raise _Rejection(404, INVALID_REQUEST, "Not Found: Invalid or expired session ID")
            message = _validated(await self._read_json(scope, receive, headers))
        except _Rejection as rejection:
            await _send_json(send, rejection.status, rejection.body, _rejection_headers(rejection))
            return
        session.last_seen = time.monotonic()
        await _send_empty(send, 202)
        if "method" in message and "id" in message:
            task = asyncio.create_task(self._sse_request(session, message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            await self._client_message(session, message)

    async def _sse_request(self, session: LegacySession, message: Message) -> None:
        request_id = message["id"]
        if message["method"] == "initialize":
            params = as_object(message.get("params"))
            session.client_capabilities = params.get("capabilities") or {}
            session.client_info = params.get("clientInfo")
        exchange = _SseExchange(self, session)
        session.inflight[request_id] = exchange
        try:
            body = await self._dispatch(session, message, exchange)
        finally:
            session.inflight.pop(request_id, None)
        if message["method"] == "initialize" and isinstance(body.get("result"), dict):
            session.protocol_version = str(body["result"].get("protocolVersion", session.protocol_version))
        reply: Message = {"jsonrpc": "2.0", "id": request_id}
        reply.update((k, v) for k, v in body.items() if k in ("result", "error"))
        await session.standalone.emit(reply)


class _Asgi:
    """Marks a coroutine as a raw ASGI endpoint (Starlette wraps plain functions as request handlers)."""

    __slots__ = ("endpoint",)

    def __init__(self, endpoint: Any) -> None:
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.endpoint(scope, receive, send)


def _listens_for(notifications: Message, method: Any, params: Message) -> bool:
    """Whether a listen stream granted ``notifications`` asked for a notification of ``method``."""
    wanted = LISTEN_FILTERS.get(str(method))
    if wanted is not None:
        return bool(notifications.get(wanted))
    return method == RESOURCE_UPDATED and params.get("uri") in (notifications.get("resourceSubscriptions") or ())


def _validated(decoded: Any) -> Message:
    """Check the JSON-RPC 2.0 envelope of one message (MCP has no batches since 2025-06-18)."""
    if not isinstance(decoded, dict):
        raise _Rejection(400, INVALID_REQUEST, "Invalid Request: the body must be one JSON-RPC message object")
    request_id = decoded.get("id")
    if "id" in decoded and not is_request_id(request_id):
        raise _Rejection(400, INVALID_REQUEST, "Invalid Request: id must be a string or an integer")
    shown_id = request_id if is_request_id(request_id) else None
    if decoded.get("jsonrpc") != "2.0":
        raise _Rejection(400, INVALID_REQUEST, 'Invalid Request: "jsonrpc" must be "2.0"', request_id=shown_id)
    if "method" in decoded:
        if not isinstance(decoded["method"], str) or not decoded["method"]:
            raise _Rejection(
                400, INVALID_REQUEST, "Invalid Request: method must be a non-empty string", request_id=shown_id
            )
        if "params" in decoded and not isinstance(decoded["params"], dict):
            raise _Rejection(400, INVALID_REQUEST, "Invalid Request: params must be an object", request_id=shown_id)
    elif "id" not in decoded or ("result" in decoded) == ("error" in decoded):
        raise _Rejection(400, INVALID_REQUEST, "Invalid Request: not a request, notification or response")
    return decoded


def _require_accept(headers: dict[str, str], *, json: bool = True, sse: bool = False) -> None:
    accepts_json, accepts_sse = _accepted_types(headers.get("accept", ""))
    if json and not accepts_json:
        raise _Rejection(406, INVALID_REQUEST, "Not Acceptable: Accept must include application/json")
    if sse and not accepts_sse:
        raise _Rejection(406, INVALID_REQUEST, "Not Acceptable: Accept must include text/event-stream")


@functools.lru_cache(maxsize=64)
def _accepted_types(accept: str) -> tuple[bool, bool]:
    """Whether an Accept header admits JSON and SSE (cached: a client sends the same one every time)."""
    types = {part.split(";", 1)[0].strip().lower() for part in accept.split(",")}
    anything = "*/*" in types
    json = anything or "application/json" in types or "application/*" in types
    sse = anything or "text/event-stream" in types or "text/*" in types
    return json, sse


def _ladder(verdict: EnvelopeError, request_id: RequestId | None) -> _Rejection:
    status = ERROR_HTTP_STATUS.get(verdict.code, 400)
    return _Rejection(status, verdict.code, verdict.message, request_id=request_id, data=verdict.data)


def _rejection_headers(rejection: _Rejection) -> list[tuple[bytes, bytes]]:
    return [(b"allow", b"GET, POST, DELETE")] if rejection.status == 405 else []


async def _send_json(send: Send, status: int, body: Message, extra_headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [*_JSON_HEADERS, *extra_headers]})
    await send({"type": "http.response.body", "body": dumps(body)})


async def _send_empty(send: Send, status: int, extra_headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    await send({"type": "http.response.start", "status": status, "headers": list(extra_headers)})
    await send({"type": "http.response.body", "body": b""})


async def _cancel_on_disconnect(receive: Receive, exchange: Exchange) -> None:
    await _disconnected(receive)
    exchange.cancel("the client closed the response stream")


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _until_any(*waits: Any) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


# gateway/sessions.py (Redis replication) predates the SessionStore hook and imports the old private name.
_LegacySession = LegacySession

__all__ = ["FrontSettings", "Handler", "McpFront", "MemorySessionStore", "Session", "SessionRecord", "SessionStore"]

"""A ``Backend`` is one upstream MCP server, of either protocol era, seen as "send a request, await its answer".

The core here is transport-agnostic: subclasses (``StdioBackend``, ``HttpBackend``) only move messages and
keep the connection alive. Everything else happens once, here:

* **ids**: every call gets a backend-unique id, so callers (many client sessions, each free to reuse ids)
  never see each other's answers; progress tokens are remapped the same way and restored on the way back.
* **eras**: the first exchange probes ``server/discover`` (2026-07-28) and falls back to ``initialize``
  (2025-11-25). Each call carries an ``Exchange`` describing the client it serves, and the backend adapts the
  two eras to each other: a 2026 client talking to a 2025 server gets ``resultType``/``ttlMs``/``cacheScope``
  added and the server's mid-call sampling/elicitation/roots requests turned into ``input_required`` rounds;
  a 2025 client talking to a 2026 server gets the per-request ``_meta`` envelope added for it and
  ``input_required`` results resolved through its own request channel.
* **faults**: a per-call timeout (the upstream is told ``notifications/cancelled``), client cancellation,
  and a lost connection answering every pending call with an error naming the cause.

Messages are plain dicts (see ``jsonrpc``). ``call`` returns the upstream's response message; its ``id`` is
the backend's own, and the caller overwrites it with the id its client used.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

from hivekeeper import __version__
from hivekeeper.transport.jsonrpc import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    CONNECTION_CLOSED,
    ENVELOPE_META_KEYS,
    INPUT_REQUIRED,
    INVALID_PARAMS,
    LATEST_MODERN_VERSION,
    LIST_METHODS,
    LOG_LEVEL_META_KEY,
    METHOD_NOT_FOUND,
    MODERN_ONLY_RESULT_KEYS,
    MODERN_PROTOCOL_VERSIONS,
    PROTOCOL_VERSION_META_KEY,
    REQUEST_CANCELLED,
    REQUEST_TIMEOUT,
    SERVER_INFO_META_KEY,
    Message,
    RequestId,
    RpcError,
    error_body,
    negotiate_handshake_version,
)

logger = logging.getLogger(__name__)

Era = Literal["auto", "2026-07-28", "2025-11-25"]
"""Which era to speak to the upstream: ``auto`` probes ``server/discover`` and falls back to ``initialize``."""

PROXY_CLIENT_CAPABILITIES: Final[Message] = {
    # The proxy forwards these to whichever client the call belongs to; a client without the capability
    # answers with an error, which goes back upstream as the answer.
    "sampling": {},
    "elicitation": {"form": {}, "url": {}},
    "roots": {"listChanged": True},
}
PROXY_CLIENT_INFO: Final[Message] = {"name": "hivekeeper", "version": __version__}
MAX_INPUT_ROUNDS: Final = 10
REAP_INTERVAL: Final = 0.25
"""Seconds between timeout sweeps: a timeout fires up to this late."""
HANDSHAKE_TIMEOUT: Final = 30.0
"""Least time a starting server gets to answer its handshake, whatever the per-request timeout (a cold
``npx``/``uvx`` start is slow). A 2025 server that ignores ``server/discover`` silently costs this once per
start; ``era="2025-11-25"`` skips the probe."""


class Exchange:
    """The client side of one call, as a backend sees it: who is asking and how to reach them mid-call.

    The front subclasses it per HTTP request; the defaults describe a client that accepts nothing mid-call
    (a gateway listing tools for itself, say).
    """

    __slots__ = ("client_capabilities", "client_info", "log_level", "modern", "on_cancel")

    def __init__(
        self,
        *,
        modern: bool = False,
        client_capabilities: Message | None = None,
        client_info: Message | None = None,
        log_level: str | None = None,
    ) -> None:
        self.modern = modern
        """The client speaks 2026-07-28: it takes ``input_required`` results and retries itself."""
        self.client_capabilities: Message = client_capabilities if client_capabilities is not None else {}
        self.client_info = client_info
        self.log_level = log_level
        """The level a 2025 client set with ``logging/setLevel``; sent per request to a 2026 server."""
        self.on_cancel: Callable[[str], None] | None = None
        """Set by the backend while the call is in flight; ``cancel`` calls it."""

    async def notify(self, message: Message) -> None:
        """A notification the upstream sent about this call (progress, logging)."""

    async def request(self, message: Message) -> Message:
        """A request the upstream sent to the client mid-call (``method``/``params``; no id).

        Returns the client's response body: ``{"result": ...}`` or ``{"error": ...}``.
        """
        return error_body(METHOD_NOT_FOUND, f"this client cannot answer {message.get('method')}")

    def cancel(self, reason: str) -> None:
        if self.on_cancel is not None:
            self.on_cancel(reason)


class BackendListener(Protocol):
    """Receives what the upstream sends outside any call (list_changed, logging, unsolicited requests)."""

    async def backend_notification(self, backend: Backend, message: Message) -> None: ...

    async def backend_request(self, backend: Backend, message: Message) -> Message: ...


@dataclass(frozen=True)
class ServerIdentity:
    """What the upstream said about itself in ``server/discover`` or ``initialize``."""

    protocol_version: str
    capabilities: Message
    server_info: Message
    instructions: str | None = None

    @property
    def modern(self) -> bool:
        return self.protocol_version in MODERN_PROTOCOL_VERSIONS

    @classmethod
    def from_discover(cls, result: Message) -> ServerIdentity:
        meta = result.get("_meta") or {}
        versions = [v for v in result.get("supportedVersions", ()) if v in MODERN_PROTOCOL_VERSIONS]
        return cls(
            protocol_version=versions[-1] if versions else LATEST_MODERN_VERSION,
            capabilities=dict(result.get("capabilities") or {}),
            server_info=dict(meta.get(SERVER_INFO_META_KEY) or {"name": "unknown", "version": "0"}),
            instructions=result.get("instructions"),
        )

    @classmethod
    def from_initialize(cls, result: Message) -> ServerIdentity:
        return cls(
            protocol_version=str(result.get("protocolVersion")),
            capabilities=dict(result.get("capabilities") or {}),
            server_info=dict(result.get("serverInfo") or {"name": "unknown", "version": "0"}),
            instructions=result.get("instructions"),
        )

    def initialize_result(self, requested_version: Any) -> Message:
        """The answer to a 2025-era client's ``initialize``, on this server's behalf."""
        result: Message = {
            "protocolVersion": negotiate_handshake_version(requested_version),
            "capabilities": self.capabilities,
            "serverInfo": self.server_info,
        }
        if self.instructions is not None:
            result["instructions"] = self.instructions
        return result

    def discover_result(self) -> Message:
        """The answer to a 2026-era client's ``server/discover``, on this server's behalf."""
        result: Message = {
            "supportedVersions": list(MODERN_PROTOCOL_VERSIONS),
            "capabilities": self.capabilities,
            "resultType": "complete",
            "ttlMs": 0,
            "cacheScope": "private",
            "_meta": {SERVER_INFO_META_KEY: self.server_info},
        }
        if self.instructions is not None:
            result["instructions"] = self.instructions
        return result


@dataclass(eq=False)
class _Call:
    id: int
    method: str
    future: asyncio.Future[Message]
    exchange: Exchange | None
    timeout: float
    progress_token: Any = None
    deadline: float = 0.0
    # Set while a 2025 upstream waits on a 2026 client's input: (upstream's request id, inputRequests key).
    awaiting_input: tuple[RequestId, str] | None = None
    queued_requests: list[Message] = field(default_factory=list)


class BackendUnavailable(Exception):
    """The upstream could not be reached or refused the handshake; the message names why."""


class Backend(ABC):
    """One upstream MCP server. Subclasses move messages; this class does ids, eras, timeouts and faults.

    Public surface: ``start``, ``call``, ``notify``, ``aclose``, ``identity``, ``listener``, ``ready``.
    """

    def __init__(self, *, name: str, timeout: float = 60.0, era: Era = "auto") -> None:
        self.name = name
        self.timeout = timeout
        self.era: Era = era
        self.listener: BackendListener | None = None
        self.identity: ServerIdentity | None = None
        self._pending: dict[int, _Call] = {}
        self._progress: dict[int, _Call] = {}
        self._parked: dict[str, _Call] = {}
        self._next_id = 0
        self._ready = asyncio.Event()
        self._down_reason = "not started"
        self._background: set[asyncio.Task[Any]] = set()
        self._reaper: asyncio.TimerHandle | None = None
        self._gone = False
        self._resource_watch: set[str] = set()

    # ---- public API -------------------------------------------------------------------------------------

    @abstractmethod
    async def start(self) -> None:
        """Connect and complete the handshake; raises ``BackendUnavailable`` naming the cause if it cannot."""

    @abstractmethod
    async def aclose(self) -> None:
        """Disconnect (and stop the process, for stdio); pending calls get an error."""

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    async def call(
        self,
        method: str,
        params: Message | None = None,
        *,
        exchange: Exchange | None = None,
        timeout: float | None = None,
    ) -> Message:
        """Send one request upstream and return the response message (``result`` or ``error``).

        Never raises for upstream trouble: timeouts, crashes and cancellation come back as error responses.
        """
        timeout = self.timeout if timeout is None else timeout
        if not self._ready.is_set() and (self._gone or not await self.wait_ready(timeout)):
            return error_body(CONNECTION_CLOSED, f"backend {self.name} unavailable: {self._down_reason}")
        identity = self.identity
        assert identity is not None
        modern_client = exchange is not None and exchange.modern
        if params is not None and modern_client and not identity.modern and "requestState" in params:
            body = await self._resume_parked(params, exchange, timeout)
        else:
            body = await self._request(method, self._adapt_params(params, exchange, identity), exchange, timeout)
        result = body.get("result")
        if not isinstance(result, dict):
            return body
        if identity.modern and not modern_client:
            if result.get("resultType") == INPUT_REQUIRED and exchange is not None:
                return await self._drive_input_rounds(method, params, body, exchange, timeout)
            for key in MODERN_ONLY_RESULT_KEYS:
                result.pop(key, None)
        elif modern_client and not identity.modern:
            result.setdefault("resultType", "complete")
            if method in LIST_METHODS:
                result.setdefault("ttlMs", 0)
                result.setdefault("cacheScope", "private")
        return body

    async def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait until the upstream is connected and introduced (after a restart, say); False on timeout."""
        try:
            await asyncio.wait_for(self._ready.wait(), self.timeout if timeout is None else timeout)
        except TimeoutError:
            return False
        return True

    @property
    def down_reason(self) -> str:
        """Why the upstream is not ready (meaningful while ``ready`` is False)."""
        return self._down_reason

    async def notify(self, method: str, params: Message | None = None) -> None:
        """Send a notification upstream (best effort: dropped while the upstream is down)."""
        if self._ready.is_set():
            await self._send(_message(method, params), None)

    # ---- for subclasses ---------------------------------------------------------------------------------

    @abstractmethod
    async def _send(self, message: Message, call: _Call | None) -> None:
        """Deliver one message upstream. ``call`` is the call a request belongs to (HTTP reads its answer)."""

    async def _handshake(self) -> ServerIdentity:
        """Probe the era and introduce ourselves; sets ``identity`` and marks the backend ready."""
        if self.era != "2025-11-25":
            probe = {"_meta": {PROTOCOL_VERSION_META_KEY: LATEST_MODERN_VERSION, CLIENT_CAPABILITIES_META_KEY: {}}}
            body = await self._request("server/discover", probe, None, max(self.timeout, HANDSHAKE_TIMEOUT))
            result = body.get("result")
            if isinstance(result, dict) and any(
                v in MODERN_PROTOCOL_VERSIONS for v in result.get("supportedVersions", ())
            ):
                identity = self._become_ready(ServerIdentity.from_discover(result))
                self._spawn(self._listen_upstream(identity))
                return identity
            if (body.get("error") or {}).get("code") == CONNECTION_CLOSED:
                raise BackendUnavailable(_describe(body))  # no answer at all: not an era verdict
            if self.era == "2026-07-28":
                raise BackendUnavailable(f"does not speak 2026-07-28: {_describe(body)}")
        body = await self._request(
            "initialize",
            {
                "protocolVersion": negotiate_handshake_version(None),
                "capabilities": PROXY_CLIENT_CAPABILITIES,
                "clientInfo": PROXY_CLIENT_INFO,
            },
            None,
            max(self.timeout, HANDSHAKE_TIMEOUT),
        )
        result = body.get("result")
        if not isinstance(result, dict):
            raise BackendUnavailable(f"refused initialize: {_describe(body)}")
        await self._send(_message("notifications/initialized", None), None)
        return self._become_ready(ServerIdentity.from_initialize(result))

    async def watch_resources(self, uris: set[str]) -> None:
        """Have a 2026 server report updates of these resources (a 2025 server takes ``resources/subscribe``).

        The upstream listen stream is reopened with the new set; updates reach the listener.
        """
        identity = self.identity
        if identity is None or not identity.modern:
            return
        self._resource_watch = set(uris)
        for call in list(self._pending.values()):
            if call.method == "subscriptions/listen" and call.exchange is None:
                self._abandon(call, REQUEST_CANCELLED, "resubscribing")
        self._spawn(self._listen_upstream(identity))

    async def _listen_upstream(self, identity: ServerIdentity) -> None:
        """2026-07-28 servers send list changes only on a ``subscriptions/listen`` stream: keep one open so
        they reach the listener, as a 2025 server's unsolicited notifications do."""
        wanted = {
            flag: True
            for kind, flag in (
                ("tools", "toolsListChanged"),
                ("prompts", "promptsListChanged"),
                ("resources", "resourcesListChanged"),
            )
            if (identity.capabilities.get(kind) or {}).get("listChanged")
        }
        notifications: Message = dict(wanted)
        if self._resource_watch:
            notifications["resourceSubscriptions"] = sorted(self._resource_watch)
        if not notifications:
            return
        params = {
            "notifications": notifications,
            "_meta": {PROTOCOL_VERSION_META_KEY: identity.protocol_version, CLIENT_CAPABILITIES_META_KEY: {}},
        }
        await self._request("subscriptions/listen", params, None, math.inf)

    def _become_ready(self, identity: ServerIdentity) -> ServerIdentity:
        self.identity = identity
        self._ready.set()
        return identity

    async def _receive(self, message: Message, hint: _Call | None = None) -> None:
        """Route one message from upstream. ``hint``: the call whose response stream carried it (HTTP)."""
        if "method" not in message:
            call = self._pending.pop(message.get("id"), None)  # type: ignore[arg-type]
            if call is not None:
                self._finish(call, message)
            return
        if "id" in message:
            self._on_server_request(message, hint)
            return
        method = message["method"]
        params = message.get("params")
        if method == "notifications/progress" and isinstance(params, dict):
            call = self._progress.get(params.get("progressToken"))  # type: ignore[arg-type]
            if call is not None and call.exchange is not None:
                params["progressToken"] = call.progress_token
                await call.exchange.notify(message)
            return
        if hint is None and method == "notifications/message":
            # stdio carries no link from a log line to a call; with one call in flight it can only be that one.
            calls = [call for call in self._pending.values() if call.exchange is not None]
            hint = calls[0] if len(calls) == 1 else None
        if hint is not None and hint.exchange is not None and not hint.future.done():
            await hint.exchange.notify(message)
        elif self.listener is not None:
            await self.listener.backend_notification(self, message)

    def _connection_lost(self, reason: str, data: Message | None = None, *, final: bool = False) -> None:
        """The upstream is gone: answer everything pending with ``reason``; unless ``final``, a reconnect follows."""
        self._ready.clear()
        self._down_reason = reason
        self._gone = final
        pending, self._pending = self._pending, {}
        self._progress.clear()
        self._parked.clear()
        body = error_body(CONNECTION_CLOSED, f"backend {self.name} {reason}", data)
        for call in pending.values():
            self._finish(call, body)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ---- internals --------------------------------------------------------------------------------------

    async def _request(self, method: str, params: Message | None, exchange: Exchange | None, timeout: float) -> Message:
        self._next_id += 1
        call = _Call(self._next_id, method, asyncio.get_running_loop().create_future(), exchange, timeout)
        if params is not None:
            meta = params.get("_meta")
            if isinstance(meta, dict) and "progressToken" in meta:
                call.progress_token = meta["progressToken"]
                params = {**params, "_meta": {**meta, "progressToken": call.id}}
                self._progress[call.id] = call
        self._pending[call.id] = call
        self._arm(call)
        self._hook_cancel(call, exchange)
        message: Message = {"jsonrpc": "2.0", "id": call.id, "method": method}
        if params is not None:
            message["params"] = params
        try:
            await self._send(message, call)
        except Exception as exc:  # the transport failed to deliver: answer this call, keep serving others
            self._pending.pop(call.id, None)
            self._finish(call, error_body(CONNECTION_CLOSED, f"backend {self.name} unreachable: {exc}"))
        return await self._answer(call, exchange)

    def _hook_cancel(self, call: _Call, exchange: Exchange | None) -> None:
        """Until ``_answer`` returns, ``exchange.cancel`` abandons ``call``."""
        if exchange is not None:
            exchange.on_cancel = lambda reason: self._abandon(call, REQUEST_CANCELLED, reason)

    async def _answer(self, call: _Call, exchange: Exchange | None) -> Message:
        body = await call.future
        if exchange is not None:
            # The hook and the call reference each other through the exchange: unhooking lets reference counting
            # free the call and its answer at once, instead of leaving the garbage collector a cycle per call.
            exchange.on_cancel = None
        return body

    def _arm(self, call: _Call) -> None:
        # One periodic sweep instead of a timer per call: cheaper on the hot path, and a timeout is coarse anyway.
        loop = asyncio.get_running_loop()
        call.deadline = loop.time() + call.timeout
        if self._reaper is None and call.timeout != math.inf:
            self._reaper = loop.call_later(min(REAP_INTERVAL, call.timeout), self._reap)

    def _reap(self) -> None:
        self._reaper = None
        now = asyncio.get_running_loop().time()
        for call in [c for c in self._pending.values() if c.deadline <= now]:
            self._abandon(
                call, REQUEST_TIMEOUT, f"backend {self.name} did not answer {call.method} within {call.timeout:g} s"
            )
        soonest = min((c.deadline for c in self._pending.values()), default=math.inf)
        if soonest != math.inf:
            delay = min(REAP_INTERVAL, max(soonest - now, 0.001))
            self._reaper = asyncio.get_running_loop().call_later(delay, self._reap)

    def _finish(self, call: _Call, body: Message) -> None:
        if call.progress_token is not None:
            self._progress.pop(call.id, None)
        if not call.future.done():
            call.future.set_result(body)

    def _abandon(self, call: _Call, code: int, reason: str) -> None:
        """Give up on a call (timeout or client cancel): answer it and tell the upstream to stop."""
        if self._pending.pop(call.id, None) is None:
            return
        logger.info("backend %s: abandoning %s (id %s): %s", self.name, call.method, call.id, reason)
        for token, parked in list(self._parked.items()):
            if parked is call:
                del self._parked[token]
        if call.awaiting_input is not None:
            upstream_id, _ = call.awaiting_input
            self._spawn(self._send({"jsonrpc": "2.0", "id": upstream_id, **error_body(code, reason)}, None))
        self._finish(call, error_body(code, reason))
        params = {"requestId": call.id, "reason": reason}
        self._spawn(self._send(_message("notifications/cancelled", params), None))

    def _adapt_params(
        self, params: Message | None, exchange: Exchange | None, identity: ServerIdentity
    ) -> Message | None:
        if identity.modern:
            if exchange is not None and exchange.modern:
                return params  # 2026 to 2026: the client's own envelope passes through
            params = dict(params) if params is not None else {}
            meta = dict(params.get("_meta") or {})
            meta.setdefault(PROTOCOL_VERSION_META_KEY, identity.protocol_version)
            meta.setdefault(CLIENT_CAPABILITIES_META_KEY, exchange.client_capabilities if exchange else {})
            if exchange is not None and exchange.client_info is not None:
                meta.setdefault(CLIENT_INFO_META_KEY, exchange.client_info)
            if exchange is not None and exchange.log_level is not None:
                meta.setdefault(LOG_LEVEL_META_KEY, exchange.log_level)
            params["_meta"] = meta
            return params
        if params is not None and exchange is not None and exchange.modern:
            theirs = params.get("_meta")
            if isinstance(theirs, dict) and any(key in theirs for key in ENVELOPE_META_KEYS):
                stripped = {k: v for k, v in theirs.items() if k not in ENVELOPE_META_KEYS}
                params = {k: v for k, v in params.items() if k != "_meta"}
                if stripped:
                    params["_meta"] = stripped
        return params

    def _on_server_request(self, message: Message, hint: _Call | None) -> None:
        if message.get("method") == "ping":
            self._spawn(self._send({"jsonrpc": "2.0", "id": message["id"], "result": {}}, None))
            return
        target = hint if hint is not None and hint.exchange is not None else self._latest_call()
        if target is not None and target.exchange is not None and target.exchange.modern:
            self._ask_modern_client(target, message)
            return
        self._spawn(self._answer_server_request(message, target))

    def _latest_call(self) -> _Call | None:
        # stdio carries no link from a server request to the call it serves: the most recent call is the best
        # guess (exact with one call in flight, which is when sampling/elicitation usually happen).
        for call in reversed(self._pending.values()):
            if call.exchange is not None:
                return call
        return None

    async def _answer_server_request(self, message: Message, target: _Call | None) -> None:
        request = {"method": message["method"], "params": message.get("params")}
        if target is not None and target.exchange is not None:
            body = await target.exchange.request(request)
        elif self.listener is not None:
            body = await self.listener.backend_request(self, request)
        else:
            body = error_body(METHOD_NOT_FOUND, f"no client to answer {message['method']}")
        await self._send({"jsonrpc": "2.0", "id": message["id"], **body}, None)

    def _ask_modern_client(self, call: _Call, message: Message) -> None:
        """A 2025 upstream asked a 2026 client something mid-call: end this round with ``input_required``."""
        if call.awaiting_input is not None or call.future.done():
            call.queued_requests.append(message)
            return
        key = f"r{message['id']}"
        call.awaiting_input = (message["id"], key)
        token = secrets.token_urlsafe(16)
        self._parked[token] = call
        request = {"method": message["method"], "params": message.get("params") or {}}
        body = {"result": {"resultType": INPUT_REQUIRED, "inputRequests": {key: request}, "requestState": token}}
        # The call stays pending upstream; only this client round ends. Its deadline now bounds the client's reply.
        self._arm(call)
        call.future.set_result(body)

    async def _resume_parked(self, params: Message, exchange: Exchange | None, timeout: float) -> Message:
        call = self._parked.pop(str(params.get("requestState")), None)
        if call is None or call.awaiting_input is None or call.id not in self._pending:
            return error_body(INVALID_PARAMS, "unknown or expired requestState (the interrupted call is gone)")
        upstream_id, key = call.awaiting_input
        call.awaiting_input = None
        answer = (params.get("inputResponses") or {}).get(key)
        call.future = asyncio.get_running_loop().create_future()
        call.exchange = exchange
        call.timeout = timeout
        self._hook_cancel(call, exchange)
        self._arm(call)
        if isinstance(answer, dict):
            await self._send({"jsonrpc": "2.0", "id": upstream_id, "result": answer}, None)
        else:
            refusal = error_body(INVALID_PARAMS, f"the client sent no input response for {key}")
            await self._send({"jsonrpc": "2.0", "id": upstream_id, **refusal}, None)
        if call.queued_requests:
            self._ask_modern_client(call, call.queued_requests.pop(0))
        return await self._answer(call, exchange)

    async def _drive_input_rounds(
        self, method: str, params: Message | None, body: Message, exchange: Exchange, timeout: float
    ) -> Message:
        """A 2026 upstream wants input from a 2025 client: ask the client, then retry with the answers."""
        identity = self.identity
        assert identity is not None
        for _ in range(MAX_INPUT_ROUNDS):
            result = body.get("result")
            if not isinstance(result, dict) or result.get("resultType") != INPUT_REQUIRED:
                if isinstance(result, dict):
                    for key in MODERN_ONLY_RESULT_KEYS:
                        result.pop(key, None)
                return body
            requests: dict[str, Message] = result.get("inputRequests") or {}
            answers: Message = {}
            for key, request in requests.items():
                reply = await exchange.request(request)
                if "error" in reply:
                    return reply
                answers[key] = reply.get("result")
            retry = dict(params) if params is not None else {}
            retry["inputResponses"] = answers
            if "requestState" in result:
                retry["requestState"] = result["requestState"]
            body = await self._request(method, self._adapt_params(retry, exchange, identity), exchange, timeout)
        return error_body(INVALID_PARAMS, f"backend {self.name} asked for input more than {MAX_INPUT_ROUNDS} times")

    async def _cancel_background(self) -> None:
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(BaseException):
                await task


def _message(method: str, params: Message | None) -> Message:
    message: Message = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    return message


def _describe(body: Message) -> str:
    error = body.get("error")
    if isinstance(error, dict):
        return f"{error.get('message')} ({error.get('code')})"
    return "unexpected answer"


__all__ = [
    "PROXY_CLIENT_CAPABILITIES",
    "Backend",
    "BackendListener",
    "BackendUnavailable",
    "Era",
    "Exchange",
    "RpcError",
    "ServerIdentity",
]

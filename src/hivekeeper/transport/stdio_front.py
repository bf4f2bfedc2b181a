"""``StdioFront``: one MCP client on this process's stdin/stdout (Claude Desktop, say) in front of a ``Backend``.

The client may speak either era; requests run concurrently through the same ``BridgeHandler`` the HTTP front
uses, so era translation and id handling are identical. Anything the upstream sends outside a call goes
straight to the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from typing import Any, BinaryIO

from hivekeeper.transport.backend import Backend, Exchange
from hivekeeper.transport.bridge import BridgeHandler
from hivekeeper.transport.jsonrpc import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    PARSE_ERROR,
    PROTOCOL_VERSION_META_KEY,
    Message,
    RequestId,
    as_object,
    dumps,
    error_body,
    loads,
)
from hivekeeper.transport.sessions import Session, SessionExchange
from hivekeeper.transport.stdio import LINE_LIMIT

logger = logging.getLogger(__name__)


class _StdioExchange(SessionExchange):
    __slots__ = ("front",)

    def __init__(self, front: StdioFront, session: Session) -> None:
        super().__init__(session)
        self.front = front

    async def notify(self, message: Message) -> None:
        self.front.write(message)

    async def request(self, message: Message) -> Message:
        if self.modern:
            return await super().request(message)
        return await self.front.request_any(message)


class StdioFront:
    """Serves one client over newline-delimited JSON-RPC until its stdin closes."""

    def __init__(self, backend: Backend, *, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
        self.handler = BridgeHandler(backend)
        self.handler.attach(self)
        self._stdin = stdin if stdin is not None else sys.stdin.buffer
        self._stdout = stdout if stdout is not None else sys.stdout.buffer
        self._session: Session | None = None
        self._inflight: dict[RequestId, tuple[asyncio.Task[None], Exchange]] = {}
        self._outgoing: dict[RequestId, asyncio.Future[Message]] = {}
        self._next_out_id = 0

    def write(self, message: Message) -> None:
        self._stdout.write(dumps(message) + b"\n")
        self._stdout.flush()

    async def broadcast(self, message: Message) -> None:
        self.write(message)

    async def request_any(self, message: Message) -> Message:
        self._next_out_id += 1
        out_id = f"hk-{self._next_out_id}"
        waiter: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._outgoing[out_id] = waiter
        try:
            self.write({"jsonrpc": "2.0", "id": out_id, **message})
            return await waiter
        finally:
            self._outgoing.pop(out_id, None)

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=LINE_LIMIT)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), self._stdin)
        try:
            while line := await reader.readline():
                if line.strip():
                    self._on_line(line)
        finally:
            for task, _ in list(self._inflight.values()):
                task.cancel()

    def _on_line(self, line: bytes) -> None:
        try:
            message: Any = loads(line)
        except ValueError as exc:
            self.write({"jsonrpc": "2.0", "id": None, **error_body(PARSE_ERROR, f"Parse error: {exc}")})
            return
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            self.write({"jsonrpc": "2.0", "id": None, **error_body(INVALID_REQUEST, "not a JSON-RPC 2.0 message")})
            return
        method = message.get("method")
        request_id = message.get("id")
        if not isinstance(method, str):
            waiter = self._outgoing.get(request_id)  # type: ignore[arg-type]
            if waiter is not None and not waiter.done():
                waiter.set_result({k: v for k, v in message.items() if k in ("result", "error")})
            return
        if "id" not in message:
            self._on_notification(message)
            return
        if not isinstance(request_id, str | int) or isinstance(request_id, bool):
            self.write({"jsonrpc": "2.0", "id": None, **error_body(INVALID_REQUEST, "id must be a string or integer")})
            return
        session = self._session_for(message)
        exchange = _StdioExchange(self, session)
        task = asyncio.create_task(self._answer(session, message, exchange))
        self._inflight[request_id] = (task, exchange)
        task.add_done_callback(lambda _: self._inflight.pop(request_id, None))

    def _on_notification(self, message: Message) -> None:
        if message["method"] == "notifications/cancelled":
            params = message.get("params") or {}
            entry = self._inflight.get(params.get("requestId"))  # type: ignore[arg-type]
            if entry is not None:
                entry[1].cancel(str(params.get("reason") or "cancelled by the client"))
            return
        if self._session is not None:
            task = asyncio.create_task(self.handler.notification(self._session, message))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    def _session_for(self, message: Message) -> Session:
        params = as_object(message.get("params"))
        meta = as_object(params.get("_meta"))
        if PROTOCOL_VERSION_META_KEY in meta:
            # 2026-07-28: every request describes its client afresh.
            return Session(
                None,
                modern=True,
                protocol_version=str(meta[PROTOCOL_VERSION_META_KEY]),
                client_capabilities=meta.get(CLIENT_CAPABILITIES_META_KEY) or {},
                client_info=meta.get(CLIENT_INFO_META_KEY),
            )
        if message["method"] == "initialize" or self._session is None:
            self._session = Session(
                "stdio",
                modern=False,
                protocol_version=str(params.get("protocolVersion")),
                client_capabilities=params.get("capabilities") or {},
                client_info=params.get("clientInfo"),
            )
        return self._session

    async def _answer(self, session: Session, message: Message, exchange: Exchange) -> None:
        if message["method"] == "ping":
            body: Message = {"result": {}}
        else:
            try:
                body = await self.handler.handle(session, message, exchange)
            except Exception:
                logger.exception("failed on %s", message["method"])
                body = error_body(INTERNAL_ERROR, f"internal error while handling {message['method']}")
        reply: Message = {"jsonrpc": "2.0", "id": message["id"]}
        reply.update((k, v) for k, v in body.items() if k in ("result", "error"))
        with contextlib.suppress(BrokenPipeError):
            self.write(reply)


__all__ = ["StdioFront"]

"""Client sessions as the front keeps them: the per-request ``Session`` a handler sees, the 2025-era
``LegacySession`` with its SSE streams (numbered events kept for ``Last-Event-ID`` replay), and the
``SessionStore`` seam that lets a session begun on one replica continue on another.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.types import Send

from hivekeeper.transport.backend import Exchange
from hivekeeper.transport.jsonrpc import Message, RequestId, dumps


class Session:
    """One client conversation. 2026-era clients get a fresh one per request (``id`` is None), but a
    ``subscriptions/listen`` stream's has an id: the resources it holds outlive the request's handling."""

    __slots__ = (
        "client_capabilities",
        "client_info",
        "id",
        "log_level",
        "modern",
        "protocol_version",
        "resource_subscriptions",
        "state",
    )

    def __init__(
        self,
        session_id: str | None,
        *,
        modern: bool,
        protocol_version: str,
        client_capabilities: Message,
        client_info: Message | None,
    ) -> None:
        self.id = session_id
        self.modern = modern
        self.protocol_version = protocol_version
        self.client_capabilities = client_capabilities
        self.client_info = client_info
        self.state: dict[str, Any] = {}
        """Free for the handler's per-session bookkeeping."""
        self.log_level: str | None = None
        """A 2025 client's ``logging/setLevel`` choice (2026 clients put theirs in each request)."""
        self.resource_subscriptions: set[str] = set()
        """URIs held (a 2025 client's ``resources/subscribe``, a listen stream's ``resourceSubscriptions``), as the
        handler records them: what it releases at the end, and the only updates that reach a 2025 client."""


class SessionExchange(Exchange):
    """One call of ``session``'s client: the client's era, capabilities and log level are the session's."""

    __slots__ = ("session",)

    def __init__(self, session: Session) -> None:
        super().__init__(
            modern=session.modern,
            client_capabilities=session.client_capabilities,
            client_info=session.client_info,
            log_level=session.log_level,
        )
        self.session = session


@dataclass
class SessionRecord:
    """What a 2025-era session is, apart from its live streams: enough for another replica to continue it."""

    id: str
    protocol_version: str
    client_capabilities: Message
    client_info: Message | None
    state: dict[str, Any]


class SessionStore(Protocol):
    """Shared storage for ``SessionRecord``s (e.g. Redis), so a session begun on one replica continues on
    another. Streams stay with the process that holds them; only the record moves."""

    async def get(self, session_id: str) -> SessionRecord | None: ...

    async def put(self, record: SessionRecord, ttl: float) -> None:
        """Store (or refresh) ``record``, to expire ``ttl`` seconds from now unless put again."""
        ...

    async def delete(self, session_id: str) -> None: ...


class MemorySessionStore:
    """A ``SessionStore`` in this process's memory: for several fronts in one process, and for tests."""

    def __init__(self) -> None:
        self._records: dict[str, tuple[float, SessionRecord]] = {}

    async def get(self, session_id: str) -> SessionRecord | None:
        entry = self._records.get(session_id)
        if entry is None or entry[0] < time.monotonic():
            self._records.pop(session_id, None)
            return None
        return entry[1]

    async def put(self, record: SessionRecord, ttl: float) -> None:
        self._records[record.id] = (time.monotonic() + ttl, record)

    async def delete(self, session_id: str) -> None:
        self._records.pop(session_id, None)


class SseStream:
    """One SSE stream. Resumable streams number and keep their events so a new connection can replay them."""

    __slots__ = ("done", "key", "log", "resumable", "send", "seq")

    def __init__(self, key: str, *, resumable: bool, log_limit: int) -> None:
        self.key = key
        self.resumable = resumable
        self.seq = 0
        self.log: deque[tuple[int, bytes]] = deque(maxlen=log_limit)
        self.send: Send | None = None
        self.done = asyncio.Event()

    async def emit(self, message: Message | None) -> None:
        data = dumps(message) if message is not None else b""
        if self.resumable:
            self.seq += 1
            frame = b"id: %s:%d\nevent: message\ndata: %s\n\n" % (self.key.encode(), self.seq, data)
            if message is not None:
                self.log.append((self.seq, frame))
        else:
            frame = b"event: message\ndata: %s\n\n" % data
        await self._write(frame)

    async def _write(self, frame: bytes) -> None:
        send = self.send
        if send is None:
            return
        try:
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        except Exception:  # the client went away; a resumable stream keeps logging for its return
            self.send = None

    def replay_after(self, seq: int) -> list[bytes]:
        return [frame for n, frame in self.log if n > seq]


class LegacySession(Session):
    __slots__ = (
        "closed",
        "inflight",
        "last_seen",
        "next_out_id",
        "next_stream_id",
        "outgoing",
        "standalone",
        "stored_at",
        "streams",
    )

    def __init__(self, session_id: str, *, protocol_version: str, params: Message, log_limit: int) -> None:
        super().__init__(
            session_id,
            modern=False,
            protocol_version=protocol_version,
            client_capabilities=params.get("capabilities") or {},
            client_info=params.get("clientInfo"),
        )
        self.last_seen = self.stored_at = time.monotonic()
        self.standalone = SseStream("s", resumable=True, log_limit=log_limit)
        self.streams: OrderedDict[str, SseStream] = OrderedDict(s=self.standalone)
        self.inflight: dict[RequestId, Exchange] = {}
        self.outgoing: dict[RequestId, asyncio.Future[Message]] = {}
        self.next_out_id = 0
        self.next_stream_id = 0
        self.closed = asyncio.Event()


def record_of(session: LegacySession) -> SessionRecord:
    return SessionRecord(
        id=session.id,  # type: ignore[arg-type]
        protocol_version=session.protocol_version,
        client_capabilities=session.client_capabilities,
        client_info=session.client_info,
        state=session.state,
    )


__all__ = [
    "LegacySession",
    "MemorySessionStore",
    "Session",
    "SessionRecord",
    "SessionStore",
    "SseStream",
    "record_of",
]

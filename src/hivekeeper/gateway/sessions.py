"""Legacy (2025-11-25) session records in Redis: the transport front's ``SessionStore``, so that a session
opened on one gateway replica continues on another behind any load balancer. Only the small record moves
(protocol version, the client's capabilities and info, the handler's state such as the session's owner);
streams stay with the replica that holds them. 2026-07-28 requests carry everything in each request and
need none of this."""

from __future__ import annotations

from dataclasses import asdict

import orjson
import redis.asyncio as aioredis

from hivekeeper.transport.sessions import SessionRecord


class RedisSessionStore:
    def __init__(self, url: str, *, prefix: str = "hivekeeper:mcp-session:") -> None:
        self._redis = aioredis.from_url(url)
        self.prefix = prefix

    async def get(self, session_id: str) -> SessionRecord | None:
        raw = await self._redis.get(self.prefix + session_id)
        return SessionRecord(**orjson.loads(raw)) if raw else None

    async def put(self, record: SessionRecord, ttl: float) -> None:
        await self._redis.set(self.prefix + record.id, orjson.dumps(asdict(record)), px=max(1, int(ttl * 1000)))

    async def delete(self, session_id: str) -> None:
        await self._redis.delete(self.prefix + session_id)

    async def aclose(self) -> None:
        await self._redis.aclose()

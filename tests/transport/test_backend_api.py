"""The Backend API other parts build on (gateway, workloads), used directly in-process."""

from __future__ import annotations

import asyncio
import gc

import httpx

from hivekeeper.transport import (
    Backend,
    BridgeHandler,
    Exchange,
    FrontSettings,
    McpFront,
    MemorySessionStore,
    Message,
    ServerIdentity,
    StdioBackend,
    command_launcher,
)
from tests.conftest import ECHO_SERVER
from tests.transport.conftest import INTERACTIVE, INTERACTIVE_LEGACY


async def test_call_adapts_to_a_2025_caller_and_a_2026_caller() -> None:
    backend = StdioBackend(command_launcher(ECHO_SERVER), name="echo")
    await backend.start()
    try:
        assert backend.identity is not None and backend.identity.modern
        plain = await backend.call("tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}})
        assert plain["result"]["structuredContent"] == {"result": 3}
        assert "resultType" not in plain["result"]  # a 2025 caller never sees 2026-only fields
        modern = Exchange(modern=True)
        meta = {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        }
        listed = await backend.call("tools/list", {"_meta": meta}, exchange=modern)
        assert listed["result"]["resultType"] == "complete" and listed["result"]["cacheScope"] in ("private", "public")
    finally:
        await backend.aclose()


async def test_a_2025_server_gets_2026_fields_added_for_a_2026_caller() -> None:
    backend = StdioBackend(command_launcher(INTERACTIVE_LEGACY), name="legacy")
    await backend.start()
    try:
        assert backend.identity is not None and not backend.identity.modern
        meta = {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        }
        listed = await backend.call("tools/list", {"_meta": meta}, exchange=Exchange(modern=True))
        assert listed["result"]["resultType"] == "complete"
        assert listed["result"]["ttlMs"] == 0 and listed["result"]["cacheScope"] == "private"
    finally:
        await backend.aclose()


async def test_without_restart_the_owner_hears_of_the_exit_and_calls_fail_fast() -> None:
    exits: list[tuple[int | None, str]] = []
    backend = StdioBackend(
        command_launcher(INTERACTIVE),
        name="once",
        restart=False,
        on_exit=lambda code, cause: exits.append((code, cause)),
    )
    await backend.start()
    try:
        crashed = await backend.call("tools/call", {"name": "crash", "arguments": {"code": 4}})
        assert "exited with code 4" in crashed["error"]["message"]
        for _ in range(100):
            if exits:
                break
            await asyncio.sleep(0.05)
        assert exits and exits[0][0] == 4 and "crashing on purpose" in exits[0][1]
        started = asyncio.get_running_loop().time()
        after = await backend.call("tools/list")
        assert "unavailable: exited with code 4" in after["error"]["message"]
        assert asyncio.get_running_loop().time() - started < 1
        assert not backend.ready
    finally:
        await backend.aclose()


async def test_a_session_continues_on_another_replica_through_a_shared_store() -> None:
    """Two fronts (replicas) sharing a SessionStore: a session begun on A is served by B; DELETE ends it."""
    backend = StdioBackend(command_launcher(ECHO_SERVER), name="echo")
    await backend.start()
    store = MemorySessionStore()
    settings = FrontSettings(session_ttl=0.4)
    replica_a = McpFront(BridgeHandler(backend), settings, session_store=store)
    replica_b = McpFront(BridgeHandler(backend), settings, session_store=store)
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json", "host": "localhost"}
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {"roots": {}},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 2, "b": 3}}}
    try:
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=replica_a), base_url="http://localhost") as a,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=replica_b), base_url="http://localhost") as b,
        ):
            started = await a.post("/mcp", headers=headers, json=init)
            session = {**headers, "mcp-session-id": started.headers["mcp-session-id"]}
            answered = await b.post("/mcp", headers=session, json=call)
            assert answered.status_code == 200 and answered.json()["result"]["structuredContent"] == {"result": 5}
            assert (await b.delete("/mcp", headers=session)).status_code == 200
            await asyncio.sleep(0.2)  # past a quarter of the TTL, replica A checks the shared record again
            assert (await a.post("/mcp", headers=session, json=call)).status_code == 404
    finally:
        await backend.aclose()


async def test_a_finished_call_leaves_no_garbage_cycle() -> None:
    """The exchange's cancel hook is dropped with the answer, so a call is freed by reference counting: the proxy
    must not leave the garbage collector a cycle per call (5-7% of its CPU under load)."""

    class Answering(Backend):
        async def start(self) -> None:
            self._become_ready(ServerIdentity.from_initialize({"protocolVersion": "2025-11-25"}))

        async def aclose(self) -> None: ...

        async def _send(self, message: Message, call: object) -> None:
            answer = {"jsonrpc": "2.0", "id": message["id"], "result": {"content": []}}
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self._receive(answer)))

    backend = Answering(name="answering")
    await backend.start()
    exchange = Exchange()
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(20):
            assert "result" in await backend.call("tools/call", {"name": "x"}, exchange=exchange)
        gc.collect()
        assert exchange.on_cancel is None
        assert [type(o).__name__ for o in gc.garbage] == []
    finally:
        gc.set_debug(0)
        gc.garbage.clear()

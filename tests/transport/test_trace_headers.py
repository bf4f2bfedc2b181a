"""Trace context that MCP carries in ``params._meta`` also reaches HTTP backends as W3C headers."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from mcp.server import MCPServer

from hivekeeper.transport import HttpBackend
from tests.conftest import free_port

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _recording(app: Any, seen: list[dict[str, str]]) -> Any:
    async def wrapper(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            seen.append({key.decode(): value.decode() for key, value in scope["headers"]})
        await app(scope, receive, send)

    return wrapper


async def test_traceparent_in_meta_is_sent_as_http_headers() -> None:
    server = MCPServer("traced")

    @server.tool()
    def ping_back(text: str) -> str:
        return text

    seen: list[dict[str, str]] = []
    port = free_port()
    config = uvicorn.Config(_recording(server.streamable_http_app(), seen), port=port, log_level="warning")
    http = uvicorn.Server(config)
    serving = asyncio.create_task(http.serve())
    try:
        while not http.started:
            await asyncio.sleep(0.02)
        backend = HttpBackend(f"http://127.0.0.1:{port}/mcp", name="traced")
        await backend.start()
        try:
            params = {
                "name": "ping_back",
                "arguments": {"text": "hi"},
                "_meta": {"traceparent": TRACEPARENT, "tracestate": "vendor=1"},
            }
            answer = await backend.call("tools/call", params)
            assert answer["result"]["content"][0]["text"] == "hi"
        finally:
            await backend.aclose()
    finally:
        http.should_exit = True
        await serving
    traced = [headers for headers in seen if headers.get("traceparent") == TRACEPARENT]
    assert len(traced) == 1 and traced[0]["tracestate"] == "vendor=1"
    assert all("traceparent" not in headers for headers in seen if headers is not traced[0])

"""Wire-level behaviour of sessions and streams, with raw HTTP: id isolation, resumption, cancellation, expiry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import ECHO_SERVER
from tests.transport.conftest import MODERN_HEADERS, Proxy, modern_request

LEGACY_INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        yield client


async def open_session(http: httpx.AsyncClient, url: str) -> dict[str, str]:
    response = await http.post(url, headers=MODERN_HEADERS, json=LEGACY_INIT)
    assert response.status_code == 200, response.text
    headers = {**MODERN_HEADERS, "mcp-session-id": response.headers["mcp-session-id"]}
    headers["mcp-protocol-version"] = response.json()["result"]["protocolVersion"]
    accepted = await http.post(url, headers=headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert accepted.status_code == 202
    return headers


def reply_of(response: httpx.Response) -> Any:
    """The JSON-RPC reply in a JSON or SSE response."""
    if response.headers["content-type"].startswith("text/event-stream"):
        data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        return orjson.loads([d for d in data if d][-1])
    return response.json()


async def test_colliding_ids_across_sessions_and_eras_get_their_own_answers(
    echo_proxy: Proxy, http: httpx.AsyncClient
) -> None:
    """Every client uses ids 1..N at the same time; each answer must be the one for its own arguments."""
    calls_per_client = 15

    async def legacy_client(n: int) -> list[tuple[Any, Any]]:
        headers = await open_session(http, echo_proxy.url)

        async def call(i: int) -> tuple[Any, Any]:
            body = {
                "jsonrpc": "2.0",
                "id": i,
                "method": "tools/call",
                "params": {"name": "add", "arguments": {"a": n * 1000, "b": i}},
            }
            reply = reply_of(await http.post(echo_proxy.url, headers=headers, json=body))
            return (reply["id"], reply["result"]["structuredContent"]["result"]), (i, n * 1000 + i)

        return await asyncio.gather(*(call(i) for i in range(1, calls_per_client + 1)))

    async def modern_client(n: int) -> list[tuple[Any, Any]]:
        async def call(i: int) -> tuple[Any, Any]:
            headers, body = modern_request(i, "tools/call", {"name": "add", "arguments": {"a": -n * 1000, "b": i}})
            reply = reply_of(await http.post(echo_proxy.url, headers=headers, content=orjson.dumps(body)))
            return (reply["id"], reply["result"]["structuredContent"]["result"]), (i, -n * 1000 + i)

        return await asyncio.gather(*(call(i) for i in range(1, calls_per_client + 1)))

    results = await asyncio.gather(*(legacy_client(n) for n in range(1, 9)), *(modern_client(n) for n in range(1, 9)))
    pairs = [pair for client in results for pair in client]
    assert len(pairs) == 16 * calls_per_client
    assert all(got == expected for got, expected in pairs), [p for p in pairs if p[0] != p[1]][:5]


async def test_deleted_session_answers_404(echo_proxy: Proxy, http: httpx.AsyncClient) -> None:
    headers = await open_session(http, echo_proxy.url)
    assert (await http.delete(echo_proxy.url, headers=headers)).status_code == 200
    after = await http.post(echo_proxy.url, headers=headers, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert after.status_code == 404
    assert after.json()["error"]["code"] == -32600


async def test_idle_session_expires(proxy_factory: Any, http: httpx.AsyncClient) -> None:
    proxy = proxy_factory(["--session-ttl", "0.4", "--", *ECHO_SERVER])
    headers = await open_session(http, proxy.url)
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    assert (await http.post(proxy.url, headers=headers, json=ping)).json() == {"jsonrpc": "2.0", "id": 1, "result": {}}
    await asyncio.sleep(1.2)
    assert (await http.post(proxy.url, headers=headers, json=ping)).status_code == 404


async def test_second_standalone_stream_conflicts(echo_proxy: Proxy, http: httpx.AsyncClient) -> None:
    headers = {**(await open_session(http, echo_proxy.url)), "accept": "text/event-stream"}
    async with http.stream("GET", echo_proxy.url, headers=headers) as first:
        assert first.status_code == 200
        second = await http.get(echo_proxy.url, headers=headers)
        assert second.status_code == 409


async def test_resume_a_dropped_response_stream_with_last_event_id(
    interactive_proxy: Proxy, http: httpx.AsyncClient
) -> None:
    headers = await open_session(http, interactive_proxy.url)
    body = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": "count", "arguments": {"steps": 4, "delay": 0.25}, "_meta": {"progressToken": "tok"}},
    }
    last_id = None
    seen_before: list[Any] = []
    async with http.stream("POST", interactive_proxy.url, headers=headers, json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line.startswith("id:"):
                last_id = line[3:].strip()
            elif line.startswith("data:") and line[5:].strip():
                seen_before.append(orjson.loads(line[5:]))
                break  # drop the connection after the first progress notification
    assert last_id is not None and seen_before[0]["method"] == "notifications/progress"
    resumed = await http.get(
        interactive_proxy.url, headers={**headers, "accept": "text/event-stream", "last-event-id": last_id}
    )
    assert resumed.status_code == 200
    messages = [
        orjson.loads(line[5:]) for line in resumed.text.splitlines() if line.startswith("data:") and line[5:].strip()
    ]
    progress = [m["params"]["progress"] for m in messages if m.get("method") == "notifications/progress"]
    assert seen_before[0]["params"]["progress"] == 1 and progress == [2, 3, 4]
    assert messages[-1]["id"] == 7 and messages[-1]["result"]["structuredContent"] == {"result": 4}


async def test_client_cancellation_ends_the_call(interactive_proxy: Proxy, http: httpx.AsyncClient) -> None:
    headers = await open_session(http, interactive_proxy.url)
    body = {
        "jsonrpc": "2.0",
        "id": "slow",
        "method": "tools/call",
        "params": {"name": "sleep", "arguments": {"seconds": 30}},
    }
    started = time.monotonic()
    pending = asyncio.create_task(http.post(interactive_proxy.url, headers=headers, json=body))
    await asyncio.sleep(0.5)
    cancel = {
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": {"requestId": "slow", "reason": "user gave up"},
    }
    assert (await http.post(interactive_proxy.url, headers=headers, json=cancel)).status_code == 202
    reply = reply_of(await pending)
    assert time.monotonic() - started < 10
    assert reply["id"] == "slow" and reply["error"] == {"code": -32800, "message": "user gave up"}
    # The proxy (and the server) keep serving.
    echo = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": "still here"}},
    }
    assert reply_of(await http.post(interactive_proxy.url, headers=headers, json=echo))["result"][
        "structuredContent"
    ] == {"result": "still here"}


async def test_legacy_sse_transport(echo_proxy: Proxy, http: httpx.AsyncClient) -> None:
    """The 2024-11-05 HTTP+SSE endpoints: the stream announces where to post, and answers arrive on it."""
    async with http.stream("GET", f"{echo_proxy.base}/sse", headers={"accept": "text/event-stream"}) as stream:
        lines = stream.aiter_lines()
        endpoint = None
        async for line in lines:
            if line.startswith("data:"):
                endpoint = line[5:].strip()
                break
        assert endpoint is not None and endpoint.startswith("/messages/?session_id=")
        post = f"{echo_proxy.base}{endpoint}"
        assert (await http.post(post, json=LEGACY_INIT)).status_code == 202
        call = {
            "jsonrpc": "2.0",
            "id": 5,
            "method": "tools/call",
            "params": {"name": "add", "arguments": {"a": 1, "b": 2}},
        }
        assert (
            await http.post(post, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        ).status_code == 202
        assert (await http.post(post, json=call)).status_code == 202
        replies = []
        async for line in lines:
            if line.startswith("data:"):
                replies.append(orjson.loads(line[5:]))
                if len(replies) == 2:
                    break
    assert replies[0]["id"] == 0 and replies[0]["result"]["serverInfo"]["name"] == "echo"
    assert replies[1] == {"jsonrpc": "2.0", "id": 5, "result": replies[1]["result"]}
    assert replies[1]["result"]["structuredContent"] == {"result": 3}


async def test_health(echo_proxy: Proxy, http: httpx.AsyncClient) -> None:
    response = await http.get(f"{echo_proxy.base}/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}

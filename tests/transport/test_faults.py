"""Backends that crash, get killed or hang: every pending call is answered with the cause, the proxy keeps
serving and restarts the server."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.transport.conftest import INTERACTIVE, Proxy, modern_request


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


async def call(http: httpx.AsyncClient, proxy: Proxy, request_id: int, name: str, arguments: dict[str, Any]) -> Any:
    headers, body = modern_request(request_id, "tools/call", {"name": name, "arguments": arguments})
    response = await http.post(proxy.url, headers=headers, content=orjson.dumps(body))
    return response.json()


async def backend_pid(http: httpx.AsyncClient, proxy: Proxy, *, within: float = 15.0) -> int:
    """The server's pid, waiting for a restarted server to come up."""
    deadline = time.monotonic() + within
    while True:
        reply = await call(http, proxy, 99, "pid", {})
        if "result" in reply:
            return int(reply["result"]["structuredContent"]["result"])
        assert time.monotonic() < deadline, reply
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("shared", ["interactive_proxy", "legacy_proxy"], ids=["2026 server", "2025 server"])
async def test_crash_answers_every_pending_call_and_restarts(
    request: pytest.FixtureRequest, http: httpx.AsyncClient, shared: str
) -> None:
    # The shared proxy restarts its server; later tests find it serving again (this test waits for that).
    proxy: Proxy = request.getfixturevalue(shared)
    first_pid = await backend_pid(http, proxy)
    sleepers = [asyncio.create_task(call(http, proxy, n, "sleep", {"seconds": 30})) for n in range(3)]
    await asyncio.sleep(0.3)
    crashed = await call(http, proxy, 10, "crash", {"code": 3})
    for reply in [crashed, *await asyncio.gather(*sleepers)]:
        error = reply["error"]
        assert error["code"] == -32000
        assert "exited with code 3" in error["message"], error
        assert "crashing on purpose with code 3" in error["message"], error
        assert error["data"]["exitCode"] == 3
    assert proxy.alive()
    assert await backend_pid(http, proxy) != first_pid


async def test_killed_server_is_reported_by_signal(echo_proxy: Proxy, http: httpx.AsyncClient) -> None:
    proxy = echo_proxy
    pid = proxy.process.pid
    backend = int(Path(f"/proc/{pid}/task/{pid}/children").read_text().split()[0])
    headers, body = modern_request(1, "tools/call", {"name": "echo", "arguments": {"text": "x"}})
    os.kill(backend, signal.SIGKILL)
    deadline = time.monotonic() + 15
    messages = []
    while time.monotonic() < deadline:
        reply = (await http.post(proxy.url, headers=headers, content=orjson.dumps(body))).json()
        if "result" in reply:
            break
        messages.append(reply["error"]["message"])
        await asyncio.sleep(0.05)
    else:
        pytest.fail(f"never recovered: {messages[-3:]}")
    assert reply["result"]["structuredContent"] == {"result": "x"}
    # Calls made while the server was down either waited for the restart or were told why it was down.
    assert all("killed by signal SIGKILL" in message for message in messages), messages


async def test_hung_call_times_out_and_the_proxy_keeps_serving(proxy_factory: Any, http: httpx.AsyncClient) -> None:
    proxy = proxy_factory(["--timeout", "1", "--", *INTERACTIVE])
    started = time.monotonic()
    reply = await call(http, proxy, 1, "sleep", {"seconds": 20})
    elapsed = time.monotonic() - started
    assert reply["error"]["code"] == -32001
    assert "did not answer tools/call within 1 s" in reply["error"]["message"]
    assert 0.9 < elapsed < 5
    echoed = await call(http, proxy, 2, "echo", {"text": "alive"})
    assert echoed["result"]["structuredContent"] == {"result": "alive"}


def test_a_server_that_cannot_start_is_a_one_line_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hivekeeper", "proxy", "--port", "0", "--", "/nonexistent/mcp-server"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 5
    assert result.stdout == ""
    assert result.stderr.strip().splitlines()[-1].startswith("error: backend mcp-server could not start")


def test_a_server_that_exits_at_once_names_its_exit() -> None:
    script = "import sys; sys.stderr.write('no config found\\n'); sys.exit(7)"
    result = subprocess.run(
        [sys.executable, "-m", "hivekeeper", "proxy", "--port", "0", "--", sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 5
    last = result.stderr.strip().splitlines()[-1]
    assert "exited with code 7" in last and "no config found" in last, result.stderr


async def test_a_2026_client_cancels_by_closing_the_stream(proxy_factory: Any, http: httpx.AsyncClient) -> None:
    """Closing the response stream cancels the call upstream: the server's sleep is interrupted."""
    proxy = proxy_factory(["--", *INTERACTIVE])
    headers, body = modern_request(1, "tools/call", {"name": "sleep", "arguments": {"seconds": 30}})
    payload = orjson.dumps(body)
    url = httpx.URL(proxy.url)
    # A raw connection, so that "close" means the socket really closes now.
    _, writer = await asyncio.open_connection(url.host, url.port)
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    writer.write(f"POST /mcp HTTP/1.1\r\nHost: {url.host}\r\nContent-Length: {len(payload)}\r\n{head}\r\n".encode())
    writer.write(payload)
    await asyncio.sleep(1.5)
    writer.close()
    assert await stderr_line_containing(proxy, "sleep 30.0 cancelled", within=10)
    echoed = await call(http, proxy, 2, "echo", {"text": "after cancel"})
    assert echoed["result"]["structuredContent"] == {"result": "after cancel"}


async def stderr_line_containing(proxy: Proxy, text: str, *, within: float) -> bool:
    """Whether the proxy's stderr (which carries the server's) shows ``text`` in time."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if text in proxy.stderr_text():
            return True
        await asyncio.sleep(0.1)
    return False

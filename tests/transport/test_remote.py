"""Remote backends (``--target URL``: Streamable HTTP of either era, legacy SSE) and the stdio front
(``proxy stdio URL``), driven by the SDK's client in both eras."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import ECHO_SERVER, free_port, wait_for_http
from tests.transport.conftest import INTERACTIVE_LEGACY, Proxy, start_proxy, stop_proxy

MODES = ["auto", "legacy"]


@pytest.fixture(scope="module")
def sdk_http_server() -> Iterator[str]:
    """The echo fixture served by the SDK's own Streamable HTTP (2026-07-28 and 2025-11-25)."""
    port = free_port()
    process = subprocess.Popen(
        [*ECHO_SERVER, "--http", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        wait_for_http(url, timeout=30)
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def http_target_proxy(sdk_http_server: str) -> Iterator[Proxy]:
    proxy = start_proxy(["--target", sdk_http_server])
    yield proxy
    stop_proxy(proxy)


@pytest.fixture(scope="module")
def legacy_http_target_proxy(sdk_http_server: str) -> Iterator[Proxy]:
    proxy = start_proxy(["--era", "2025-11-25", "--target", sdk_http_server])
    yield proxy
    stop_proxy(proxy)


@pytest.fixture(scope="module")
def legacy_upstream() -> Iterator[Proxy]:
    proxy = start_proxy(["--", *INTERACTIVE_LEGACY])
    yield proxy
    stop_proxy(proxy)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "upstream", ["http_target_proxy", "legacy_http_target_proxy"], ids=["2026 upstream", "2025 upstream"]
)
async def test_streamable_http_target(request: pytest.FixtureRequest, upstream: str, mode: str) -> None:
    proxy: Proxy = request.getfixturevalue(upstream)
    async with Client(proxy.url, mode=mode) as client:  # type: ignore[arg-type]
        assert client.protocol_version == ("2026-07-28" if mode == "auto" else "2025-11-25")
        assert sorted(tool.name for tool in (await client.list_tools()).tools) == ["add", "echo"]
        assert (await client.call_tool("add", {"a": 4, "b": 5})).structured_content == {"result": 9}


@pytest.mark.parametrize("mode", MODES)
async def test_legacy_sse_target(legacy_upstream: Proxy, proxy_factory: object, mode: str) -> None:
    """Chain: proxy --target .../sse (2024-11-05 transport) -> proxy -> a 2025-only stdio server."""
    chained: Proxy = proxy_factory(["--target", f"{legacy_upstream.base}/sse"])  # type: ignore[operator]
    async with Client(chained.url, mode=mode) as client:  # type: ignore[arg-type]
        assert client.server_info is not None and client.server_info.name == "interactive"
        assert (await client.call_tool("echo", {"text": "via sse"})).structured_content == {"result": "via sse"}


@pytest.mark.parametrize("mode", MODES)
async def test_stdio_front_for_a_remote_server(sdk_http_server: str, mode: str) -> None:
    params = StdioServerParameters(command=sys.executable, args=["-m", "hivekeeper", "proxy", "stdio", sdk_http_server])
    async with Client(params, mode=mode) as client:  # type: ignore[arg-type]
        assert client.protocol_version == ("2026-07-28" if mode == "auto" else "2025-11-25")
        assert sorted(tool.name for tool in (await client.list_tools()).tools) == ["add", "echo"]
        assert (await client.call_tool("echo", {"text": "über stdio"})).structured_content == {"result": "über stdio"}


def test_unreachable_target_is_a_one_line_error() -> None:
    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "hivekeeper", "proxy", "--port", "0", "--target", f"http://127.0.0.1:{port}/mcp"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 5
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: backend http://127.0.0.1:{port}/mcp unreachable")

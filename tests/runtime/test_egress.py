"""The egress proxy on its own: allowlist matching, CONNECT tunnels, plain HTTP forwarding, refusals."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from hivekeeper.errors import ConfigError
from hivekeeper.runtime.base import EgressRule
from hivekeeper.runtime.egress import EgressPolicy, EgressProxy, parse_allow


@pytest.mark.parametrize(
    ("rule", "host", "port", "allowed"),
    [
        ("api.example.com", "api.example.com", 443, True),
        ("api.example.com", "API.Example.com.", 80, True),
        ("api.example.com", "evil-api.example.com", 443, False),
        ("*.example.com", "a.b.example.com", 443, True),
        ("*.example.com", "example.com", 443, False),
        ("*.example.com", "badexample.com", 443, False),
        ("api.example.com:443", "api.example.com", 8443, False),
        ("*", "anything.test", 1, True),
    ],
)
def test_policy_matching(rule: str, host: str, port: int, allowed: bool) -> None:
    policy = EgressPolicy.from_rules([parse_allow(rule)])
    assert (policy.matching_rule(host, port) is not None) is allowed


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("example.com", EgressRule("example.com")),
        ("*.Example.com:443", EgressRule("*.example.com", 443)),
        ("10.0.0.5:5432", EgressRule("10.0.0.5", 5432)),
        ("[2001:db8::1]:443", EgressRule("2001:db8::1", 443)),
        ("*", EgressRule("*")),
    ],
)
def test_parse_allow(text: str, rule: EgressRule) -> None:
    assert parse_allow(text) == rule


@pytest.mark.parametrize(
    ("text", "message"),
    [("example.com:0", "port must be 1-65535"), ("exa mple.com", "expected a host name"), ("a.*.com", "expected")],
)
def test_parse_allow_rejects(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_allow(text)


async def _serve_upstream() -> tuple[asyncio.Server, int]:
    """An upstream that answers any HTTP request with its own request head (to check rewriting), and
    echoes raw bytes on tunnels that do not start with an HTTP verb."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = await reader.read(65536)
        if first.startswith(b"GET "):
            head = first.split(b"\r\n\r\n")[0]
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(head), head))
        else:
            writer.write(b"echo:" + first)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.fixture
async def proxy_port() -> AsyncIterator[tuple[int, int]]:
    """(proxy port, upstream port): the proxy allows upstream.test on the upstream's port only."""
    upstream, upstream_port = await _serve_upstream()
    proxy = EgressProxy(resolver_overrides={"upstream.test": "127.0.0.1"})
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    rules = [
        EgressRule("upstream.test", upstream_port),
        EgressRule("localhost"),
        EgressRule("127.0.0.1", upstream_port),
    ]
    await proxy.serve("unit", listener, EgressPolicy.from_rules(rules))
    yield listener.getsockname()[1], upstream_port
    await proxy.stop("unit")
    upstream.close()


async def _exchange(port: int, payload: bytes, then: bytes = b"") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    if then:
        status = await reader.readuntil(b"\r\n\r\n")
        writer.write(then)
        await writer.drain()
        rest = await reader.read()
        writer.close()
        return status + rest
    answer = await reader.read()
    writer.close()
    return answer


async def test_connect_tunnels_to_an_allowed_destination(proxy_port: tuple[int, int]) -> None:
    port, upstream = proxy_port
    answer = await _exchange(port, f"CONNECT upstream.test:{upstream} HTTP/1.1\r\n\r\n".encode(), then=b"ping")
    assert answer == b"HTTP/1.1 200 Connection established\r\n\r\necho:ping"


async def test_plain_http_is_forwarded_in_origin_form_without_proxy_headers(proxy_port: tuple[int, int]) -> None:
    port, upstream = proxy_port
    request = (
        f"GET http://upstream.test:{upstream}/path?q=1 HTTP/1.1\r\nHost: upstream.test:{upstream}\r\n"
        "Proxy-Authorization: Basic c2VjcmV0\r\nProxy-Connection: keep-alive\r\nX-Kept: yes\r\n\r\n"
    )
    answer = await _exchange(port, request.encode())
    assert answer.startswith(b"HTTP/1.1 200 OK")
    head = answer.split(b"\r\n\r\n", 1)[1]
    assert head.startswith(b"GET /path?q=1 HTTP/1.1\r\n")
    assert b"X-Kept: yes" in head and b"Connection: close" in head
    assert b"Proxy-" not in head


@pytest.mark.parametrize(
    ("request_text", "status", "reason"),
    [
        ("CONNECT blocked.test:443 HTTP/1.1\r\n\r\n", b"403", b"not in the allowlist"),
        ("CONNECT upstream.test:1 HTTP/1.1\r\n\r\n", b"403", b"not in the allowlist"),
        ("GET http://blocked.test/ HTTP/1.1\r\n\r\n", b"403", b"not in the allowlist"),
        # An allowlisted name whose DNS answer is the host's loopback: refused (rebinding guard).
        ("CONNECT localhost:22 HTTP/1.1\r\n\r\n", b"403", b"internal address"),
        ("GET https://upstream.test/ HTTP/1.1\r\n\r\n", b"400", b"absolute http:// URL"),
        ("CONNECT upstream.test HTTP/1.1\r\n\r\n", b"400", b"lacks a port"),
        ("garbage\r\n\r\n", b"400", b"malformed request line"),
    ],
)
async def test_refusals_name_the_reason(
    proxy_port: tuple[int, int], request_text: str, status: bytes, reason: bytes
) -> None:
    answer = await _exchange(proxy_port[0], request_text.encode())
    assert answer.split(b" ")[1] == status
    assert reason in answer


async def test_an_ip_literal_rule_may_target_an_internal_address(proxy_port: tuple[int, int]) -> None:
    port, upstream = proxy_port
    answer = await _exchange(port, f"CONNECT 127.0.0.1:{upstream} HTTP/1.1\r\n\r\n".encode(), then=b"x")
    assert answer.endswith(b"echo:x")


async def test_stop_closes_the_listener_and_cuts_open_tunnels() -> None:
    upstream, upstream_port = await _serve_upstream()
    proxy = EgressProxy(resolver_overrides={"upstream.test": "127.0.0.1"})
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    port = listener.getsockname()[1]
    await proxy.serve("unit", listener, EgressPolicy.from_rules([EgressRule("upstream.test")]))
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"CONNECT upstream.test:{upstream_port} HTTP/1.1\r\n\r\n".encode())
    await reader.readuntil(b"\r\n\r\n")  # the tunnel is open and idle
    await proxy.stop("unit")
    assert await asyncio.wait_for(reader.read(), 5) == b"", "the open tunnel is closed by stop()"
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
    writer.close()
    upstream.close()


async def test_a_server_cannot_hold_more_than_its_share_of_connections() -> None:
    proxy = EgressProxy(max_connections=3)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    port = listener.getsockname()[1]
    await proxy.serve("greedy", listener, EgressPolicy.from_rules([]))
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]  # idle: no request head yet
    await asyncio.sleep(0.1)
    answer = await _exchange(port, b"")
    assert answer.startswith(b"HTTP/1.1 429") and b"too many open connections" in answer
    for _, writer in held:
        writer.close()
    await asyncio.sleep(0.1)
    assert (await _exchange(port, b"CONNECT x.test:1 HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 403"), "room again"
    await proxy.stop("greedy")

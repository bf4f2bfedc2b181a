"""Bad input against a real running proxy: each gets the HTTP status and JSON-RPC error the spec names, and
the proxy keeps serving. Explicit cases first, then hypothesis-generated bodies and headers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.transport.conftest import MODERN_HEADERS, Proxy, modern_request

MAX_BODY = 4 * 1024 * 1024  # the proxy's default
INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


@pytest.fixture(scope="module")
def proxy(echo_proxy: Proxy) -> Proxy:
    return echo_proxy


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def session(proxy: Proxy, http: httpx.Client) -> dict[str, str]:
    response = http.post(proxy.url, headers=MODERN_HEADERS, json=INIT)
    return {**MODERN_HEADERS, "mcp-session-id": response.headers["mcp-session-id"]}


def assert_error(response: httpx.Response, status: int, code: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert body["jsonrpc"] == "2.0" and "id" in body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body  # type: ignore[no-any-return]


def assert_still_serving(proxy: Proxy, http: httpx.Client) -> None:
    headers, body = modern_request(1, "tools/call", {"name": "add", "arguments": {"a": 1, "b": 1}})
    response = http.post(proxy.url, headers=headers, content=orjson.dumps(body))
    assert response.json()["result"]["structuredContent"] == {"result": 2}
    assert proxy.alive()


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{", 400, -32700),
        (b'{"jsonrpc":"2.0","id":1,"method":"\xff\xfe"}', 400, -32700),
        (b"", 400, -32700),
        (b"[" + orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}) + b"]", 400, -32600),
        (b"42", 400, -32600),
        (b'{"id":1,"method":"ping"}', 400, -32600),
        (b'{"jsonrpc":"1.0","id":1,"method":"ping"}', 400, -32600),
        (b'{"jsonrpc":"2.0","id":true,"method":"ping"}', 400, -32600),
        (b'{"jsonrpc":"2.0","id":1.5,"method":"ping"}', 400, -32600),
        (b'{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}', 400, -32600),
        (b'{"jsonrpc":"2.0","id":1,"method":7}', 400, -32600),
        (b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":[1]}', 400, -32600),
        (b'{"jsonrpc":"2.0","id":1}', 400, -32600),
        (b'{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"x"}}', 400, -32600),
    ],
    ids=[
        "truncated json",
        "non-utf8",
        "empty body",
        "batch",
        "not an object",
        "no jsonrpc",
        "jsonrpc 1.0",
        "bool id",
        "float id",
        "object id",
        "method not a string",
        "params not an object",
        "no method or result",
        "both result and error",
    ],
)
def test_malformed_messages(
    proxy: Proxy, http: httpx.Client, session: dict[str, str], body: bytes, status: int, code: int
) -> None:
    assert_error(http.post(proxy.url, headers=session, content=body), status, code)


def test_session_errors(proxy: Proxy, http: httpx.Client) -> None:
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    assert_error(http.post(proxy.url, headers=MODERN_HEADERS, json=call), 400, -32600)
    unknown = {**MODERN_HEADERS, "mcp-session-id": "no-such-session"}
    assert_error(http.post(proxy.url, headers=unknown, json=call), 404, -32600)
    assert_error(http.get(proxy.url, headers={**unknown, "accept": "text/event-stream"}), 404, -32600)
    assert_error(http.delete(proxy.url, headers=unknown), 404, -32600)


def test_http_level_errors(proxy: Proxy, http: httpx.Client, session: dict[str, str]) -> None:
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    assert_error(http.post(proxy.url, headers={**session, "content-type": "text/plain"}, json=ping), 415, -32600)
    assert_error(http.post(proxy.url, headers={**session, "accept": "application/json"}, json=ping), 406, -32600)
    assert_error(http.get(proxy.url, headers={**session, "accept": "application/json"}), 406, -32600)
    assert_error(http.post(proxy.url, headers=session, content=b" " * (MAX_BODY + 1)), 413, -32600)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming too
        for _ in range(5):
            yield b" " * (1024 * 1024)

    assert_error(http.post(proxy.url, headers=session, content=chunks()), 413, -32600)
    put = http.put(proxy.url, headers=session, json=ping)
    assert_error(put, 405, -32600)
    assert put.headers["allow"] == "GET, POST, DELETE"
    assert http.get(f"{proxy.base}/nowhere").status_code == 404
    assert_still_serving(proxy, http)


def test_dns_rebinding_protection(proxy: Proxy, http: httpx.Client, session: dict[str, str]) -> None:
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    assert_error(http.post(proxy.url, headers={**session, "origin": "http://evil.example"}, json=ping), 403, -32600)
    assert_error(http.post(proxy.url, headers={**session, "host": "evil.example"}, json=ping), 421, -32600)
    assert_error(http.get(f"{proxy.base}/sse", headers={"origin": "https://evil.example"}), 403, -32600)
    ok = http.post(proxy.url, headers={**session, "origin": "http://localhost:3000"}, json=ping)
    assert ok.json() == {"jsonrpc": "2.0", "id": 1, "result": {}}


def test_modern_envelope_errors(proxy: Proxy, http: httpx.Client) -> None:
    headers, body = modern_request(3, "tools/call", {"name": "echo", "arguments": {"text": "x"}})
    no_meta = {**body, "params": {"name": "echo", "arguments": {"text": "x"}}}
    assert_error(http.post(proxy.url, headers=headers, json=no_meta), 400, -32602)
    assert_error(http.post(proxy.url, headers={**headers, "mcp-method": "tools/list"}, json=body), 400, -32020)
    assert_error(http.post(proxy.url, headers={**headers, "mcp-name": "add"}, json=body), 400, -32020)
    duplicated = [*headers.items(), ("mcp-method", "tools/call")]
    assert_error(http.post(proxy.url, headers=duplicated, json=body), 400, -32020)
    future = {**headers, "mcp-protocol-version": "2099-01-01"}
    future_body = {
        **body,
        "params": {
            **body["params"],
            "_meta": {**body["params"]["_meta"], "io.modelcontextprotocol/protocolVersion": "2099-01-01"},
        },
    }  # type: ignore[dict-item]
    assert_error(http.post(proxy.url, headers=future, json=body), 400, -32020)  # headers disagree with the body
    error = assert_error(http.post(proxy.url, headers=future, json=future_body), 400, -32022)
    assert error["error"]["data"] == {"supported": ["2026-07-28"], "requested": "2099-01-01"}
    for method in ("no/such/method", "ping", "initialize", "logging/setLevel"):  # 2025-only methods are gone too
        unknown_headers, unknown = modern_request(4, method)
        assert_error(http.post(proxy.url, headers=unknown_headers, json=unknown), 404, -32601)
    get = http.get(proxy.url, headers=headers)
    assert get.status_code == 405 and get.headers["allow"] == "POST"
    notification = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}
    assert http.post(proxy.url, headers=headers, json=notification).status_code == 202


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
message_like = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.sampled_from(["2.0", "1.0", 2]) | json_values,
        "id": st.integers() | st.text(max_size=8) | json_values,
        "method": st.sampled_from(["tools/call", "tools/list", "ping", "initialize", "server/discover"]) | json_values,
        "params": st.dictionaries(st.sampled_from(["name", "arguments", "_meta", "uri"]), json_values) | json_values,
        "result": json_values,
        "error": json_values,
    },
)


def encode(value: Any) -> bytes:
    # The stdlib encoder: hypothesis' integers go beyond 64 bits, which orjson refuses to write.
    return json.dumps(value).encode()


# Printable ASCII without edge whitespace: what an HTTP client library lets through at all.
header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30).map(str.strip)
SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SLOW
@given(body=st.binary(max_size=300) | message_like.map(encode) | json_values.map(encode))
def test_fuzzed_bodies_get_json_rpc_answers(
    proxy: Proxy, http: httpx.Client, session: dict[str, str], body: bytes
) -> None:
    for headers in (session, modern_request(1, "tools/call")[0]):
        response = http.post(proxy.url, headers=headers, content=body)
        assert response.status_code in (200, 202, 400, 404, 413), response.text
        if response.status_code != 202:
            reply = response.json()
            assert reply["jsonrpc"] == "2.0" and "id" in reply
            assert ("result" in reply) != ("error" in reply)
            if "error" in reply:
                assert isinstance(reply["error"]["code"], int) and isinstance(reply["error"]["message"], str)
    assert proxy.alive()


@SLOW
@given(
    version=header_text | st.sampled_from(["2026-07-28", "2025-11-25", "2025-03-26"]),
    method=header_text | st.sampled_from(["tools/call", "tools/list"]),
    accept=header_text | st.just("application/json, text/event-stream"),
    content_type=header_text | st.just("application/json"),
    body=message_like,
)
def test_fuzzed_headers_get_precise_statuses(
    proxy: Proxy, http: httpx.Client, version: str, method: str, accept: str, content_type: str, body: dict[str, Any]
) -> None:
    headers = {"mcp-protocol-version": version, "mcp-method": method, "accept": accept, "content-type": content_type}
    response = http.post(proxy.url, headers=headers, content=encode(body))
    assert response.status_code in (200, 202, 400, 404, 406, 415), response.text
    if response.status_code != 202:
        reply = response.json()
        assert reply["jsonrpc"] == "2.0" and ("result" in reply) != ("error" in reply)


def test_still_serving_after_fuzzing(proxy: Proxy, http: httpx.Client) -> None:
    assert_still_serving(proxy, http)

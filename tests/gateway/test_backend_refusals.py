"""A remote backend that refuses our credentials (HTTP 401/403) fails calls at once, naming the backend, the
status and the ``WWW-Authenticate`` challenge; the gateway shows it unhealthy and keeps serving the others;
it comes back once the server accepts the token again. The server is a real SDK server behind a real
bearer check (``tests/fixtures/guarded_server.py``), over real HTTP."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from hivekeeper.transport.backend import BackendUnavailable
from hivekeeper.transport.remote import HttpBackend, _parse_challenge
from tests.conftest import ECHO_SERVER, guarded_http_server
from tests.gateway.gateway_helpers import serve_gateway

TIMEOUT = 30.0  # the backends' call timeout: every refusal below must come long before it
PROMPT = 3.0  # "at once", with room for a loaded CI machine


@dataclass
class Guarded:
    url: str
    token_file: Path

    def accept(self, token: str) -> None:
        self.token_file.write_text(token)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guarded]:
    token_file = tmp_path_factory.mktemp("guarded") / "token"
    token_file.write_text("good")
    with guarded_http_server(token_file, "--forbidden-token", "weak", "--realm", "team-api") as url:
        yield Guarded(url, token_file)


@pytest.fixture
def server(guarded: Guarded) -> Iterator[Guarded]:
    guarded.accept("good")
    yield guarded
    guarded.accept("good")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def config(url: str, locked_token: str) -> dict[str, Any]:
    return {
        "name": "team",
        "backends": [
            {"name": "local", "command": ECHO_SERVER},
            {"name": "locked", "url": url, "headers": bearer(locked_token), "timeout": TIMEOUT},
        ],
        "integrity": {"enabled": False},
    }


async def timed_call(client: Client, tool: str, arguments: dict[str, Any]) -> tuple[str, float]:
    started = time.monotonic()
    with pytest.raises(MCPError) as refused:
        await client.call_tool(tool, arguments)
    return str(refused.value), time.monotonic() - started


async def test_gateway_backend_with_a_wrong_token_is_down_at_once_and_the_rest_serves(server: Guarded) -> None:
    async with serve_gateway(config(server.url, "wrong")) as (url, _), httpx.AsyncClient() as http:
        health = await http.get(f"{url}/healthz")
        assert health.status_code == 503 and health.json()["down"] == ["locked"]
        row = {r["name"]: r for r in (await http.get(f"{url}/gateway/status")).json()["backends"]}["locked"]
        assert not row["up"]
        assert 'HTTP 401 Unauthorized (realm "team-api", error "invalid_token"' in row["error"]
        async with Client(f"{url}/mcp") as client:
            started = time.monotonic()
            names = sorted(tool.name for tool in (await client.list_tools()).tools)
            assert names == ["local_add", "local_echo"]
            assert time.monotonic() - started < PROMPT
            message, took = await timed_call(client, "locked_echo", {"text": "hi"})
            assert took < PROMPT
            assert "backend locked" in message and "HTTP 401 Unauthorized" in message, message
            assert (await client.call_tool("local_add", {"a": 2, "b": 3})).content[0].text == "5"  # type: ignore[union-attr]


async def test_gateway_backend_whose_token_is_revoked_fails_fast_then_recovers(server: Guarded) -> None:
    async with (
        serve_gateway(config(server.url, "good")) as (url, _),
        httpx.AsyncClient() as http,
        Client(f"{url}/mcp") as client,
    ):
        assert (await client.call_tool("locked_echo", {"text": "hi"})).content[0].text == "hi"  # type: ignore[union-attr]
        server.accept("rotated")  # the server no longer takes our token
        first, took = await timed_call(client, "locked_echo", {"text": "hi"})
        assert took < PROMPT
        assert "backend locked" in first and 'HTTP 401 Unauthorized (realm "team-api"' in first, first
        again, took = await timed_call(client, "locked_echo", {"text": "hi"})
        assert took < PROMPT
        assert "backend locked is unavailable" in again and "HTTP 401" in again, again
        health = await http.get(f"{url}/healthz")
        assert health.status_code == 503 and health.json()["down"] == ["locked"]
        row = {r["name"]: r for r in (await http.get(f"{url}/gateway/status")).json()["backends"]}["locked"]
        assert "HTTP 401" in row["error"]
        assert (await client.call_tool("local_echo", {"text": "still here"})).content[0].text == "still here"  # type: ignore[union-attr]

        server.accept("good")  # accepted again: the background handshake brings the backend back
        deadline = time.monotonic() + 15
        while (await http.get(f"{url}/healthz")).status_code != 200:
            assert time.monotonic() < deadline, "the backend did not come back after the token was accepted"
            await asyncio.sleep(0.1)
        assert (await client.call_tool("locked_echo", {"text": "back"})).content[0].text == "back"  # type: ignore[union-attr]


async def test_http_backend_refusal_carries_status_and_challenge(server: Guarded) -> None:
    backend = HttpBackend(server.url, name="locked", timeout=TIMEOUT, headers=bearer("weak"))
    started = time.monotonic()
    refusal = r"backend locked rejected our credentials: HTTP 403 Forbidden"
    refusal += r' \(realm "team-api", error "insufficient_scope": the token lacks the mcp:tools scope\)'
    with pytest.raises(BackendUnavailable, match=refusal):
        await backend.start()
    answer = await backend.call("tools/list")
    assert time.monotonic() - started < PROMPT
    assert "HTTP 403 Forbidden" in answer["error"]["message"]
    await backend.aclose()

    backend = HttpBackend(server.url, name="locked", timeout=TIMEOUT, headers=bearer("good"))
    await backend.start()
    try:
        server.accept("rotated")
        answer = await backend.call("tools/list")
        assert answer["error"]["data"] == {
            "backend": "locked",
            "httpStatus": 401,
            "wwwAuthenticate": {
                "scheme": "Bearer",
                "realm": "team-api",
                "error": "invalid_token",
                "error_description": "missing or unknown bearer token",
            },
        }
        assert not backend.ready and "HTTP 401" in backend.down_reason
        started = time.monotonic()
        assert not await backend.wait_ready(TIMEOUT)  # at once: waiting cannot fix a refused token
        assert time.monotonic() - started < PROMPT
        server.accept("good")  # the background handshake brings it back
        deadline = time.monotonic() + 15
        while not backend.ready:
            assert time.monotonic() < deadline, "the backend did not come back after the token was accepted"
            await asyncio.sleep(0.05)
        assert "result" in await backend.call("tools/list")
    finally:
        await backend.aclose()


@pytest.mark.parametrize("form", ["target", "stdio"])
def test_proxy_of_a_refusing_server_exits_with_one_line(server: Guarded, form: str) -> None:
    args = ["--port", "0", "--target", server.url] if form == "target" else ["stdio", server.url]
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "hivekeeper", "proxy", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert time.monotonic() - started < 20
    assert done.returncode == 5, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and 'rejected our credentials: HTTP 401 Unauthorized (realm "team-api"' in lines[0], lines


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('Bearer realm="team", error="invalid_token"', ("Bearer", {"realm": "team", "error": "invalid_token"})),
        (
            'Bearer realm="say \\"hi\\"", error=invalid_token',
            ("Bearer", {"realm": 'say "hi"', "error": "invalid_token"}),
        ),
        ('Bearer realm="first", Basic realm="second"', ("Bearer", {"realm": "first"})),
        ('realm="bare"', (None, {"realm": "bare"})),
        ("Bearer", ("Bearer", {})),
    ],
)
def test_www_authenticate_challenges_are_read_per_rfc_9110(
    header: str, expected: tuple[str | None, dict[str, str]]
) -> None:
    assert _parse_challenge(header) == expected

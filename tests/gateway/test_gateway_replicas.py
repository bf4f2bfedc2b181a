"""Scale-out: two gateway processes share 2025-11-25 sessions through a real redis-server, so a session
opened on one replica continues on the other; 2026-07-28 requests need no shared state at all."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from hivekeeper.auth.apikeys import digest
from tests.conftest import ECHO_SERVER, free_port, wait_for_http

PROTOCOL = "2025-11-25"
HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server missing: run scripts/setup.sh test (Debian package redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def replica(config: Path, logs: Path) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "hivekeeper", "gateway", "--config", str(config), "--port", str(port)]
    with logs.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_http(f"http://127.0.0.1:{port}/healthz", timeout=60)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=15)


def rpc(http: httpx.Client, url: str, method: str, params: dict[str, Any], session: str | None, rid: int) -> Any:
    headers = {**HEADERS, "mcp-protocol-version": PROTOCOL, **({"mcp-session-id": session} if session else {})}
    body = {"jsonrpc": "2.0", "id": rid, "method": method, "params": params}
    return http.post(f"{url}/mcp", json=body, headers=headers)


def answer(response: httpx.Response) -> dict[str, Any]:
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        data = [line[5:] for line in response.text.splitlines() if line.startswith("data:") and line[5:].strip()]
        return dict(json.loads(data[-1]))
    return dict(response.json())


def test_a_session_started_on_one_replica_continues_on_the_other(tmp_path: Path, redis_url: str) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "replicated",
                "backends": [{"name": "echo", "command": ECHO_SERVER}],
                "auth": {
                    "api_keys": [
                        {"name": "alice", "sha256": digest("alice-key")},
                        {"name": "bob", "sha256": digest("bob-key")},
                    ]
                },
                "front": {"redis_url": redis_url, "session_ttl": 8},  # replicas re-check sessions every 2 s
                "integrity": {"directory": str(tmp_path / "integrity")},
            }
        )
    )
    with (
        replica(config, tmp_path / "a.log") as a,
        replica(config, tmp_path / "b.log") as b,
        httpx.Client(timeout=30, headers={"x-api-key": "alice-key"}) as http,
    ):
        init = {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
        opened = rpc(http, a, "initialize", init, None, 1)
        session = opened.headers["mcp-session-id"]
        assert answer(opened)["result"]["serverInfo"]["name"] == "replicated"

        called = answer(rpc(http, b, "tools/call", {"name": "echo_add", "arguments": {"a": 20, "b": 22}}, session, 2))
        assert called["result"]["content"][0]["text"] == "42"
        listed = answer(rpc(http, a, "tools/list", {}, session, 3))
        assert {tool["name"] for tool in listed["result"]["tools"]} == {"echo_add", "echo_echo"}

        # The session belongs to alice on every replica: bob holding its id gets nothing.
        headers = {**HEADERS, "mcp-protocol-version": PROTOCOL, "mcp-session-id": session, "x-api-key": "bob-key"}
        body = {"jsonrpc": "2.0", "id": 4, "method": "tools/list", "params": {}}
        stolen = http.post(f"{b}/mcp", json=body, headers=headers)
        assert answer(stolen)["error"]["message"] == "this session belongs to another caller"

        # Ended on B, it is gone on A too.
        assert (
            http.delete(f"{b}/mcp", headers={"mcp-session-id": session, "mcp-protocol-version": PROTOCOL}).status_code
            == 200
        )
        time.sleep(2.2)  # A re-checks the shared record after session_ttl/4
        assert rpc(http, a, "tools/list", {}, session, 5).status_code == 404
        unknown = rpc(http, b, "tools/list", {}, "never-issued", 6)
        assert unknown.status_code == 404

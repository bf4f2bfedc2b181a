"""Helpers for workload tests: the CLI as a user runs it, MCP calls through the SDK client, the manager."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpx
from mcp import Client
from typer.testing import CliRunner

from hivekeeper.cli.app import app
from hivekeeper.errors import HivekeeperError
from hivekeeper.workloads.control import ManagerClient

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TESTS = Path(__file__).resolve().parent.parent
TINY_SERVER = FIXTURES / "tiny_server.py"
ECHO_SERVER_PATH = TESTS / "fixtures" / "echo_server.py"
# The sandbox sees /usr read-only: the system python runs the stdlib-only fixture without extra mounts.
TINY_COMMAND = ["/usr/bin/python3", str(TINY_SERVER)]
TESTS_VOLUME = f"{TESTS}:{TESTS}:ro"


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str


def hk_process(*args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The CLI exactly as a user runs it (a new process, this test's environment)."""
    return subprocess.run(
        [sys.executable, "-m", "hivekeeper", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ),
    )


def hk(*args: str) -> Outcome:
    """The CLI in this process (its imports paid once per test run), errors handled as ``main`` does."""
    result = CliRunner().invoke(app, list(args))
    if isinstance(result.exception, HivekeeperError):
        return Outcome(int(result.exception.exit_code), result.stdout, f"error: {result.exception.message}\n")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Outcome(result.exit_code, result.stdout, result.stderr)


def mcp_call(url: str, tool: str | None = None, arguments: dict[str, Any] | None = None) -> Any:
    """tools/list (and one tools/call) through the SDK's own client, as any MCP client would."""

    async def go() -> Any:
        async with Client(url) as client:
            tools = [t.name for t in (await client.list_tools()).tools]
            if tool is None:
                return tools
            result = await client.call_tool(tool, arguments or {})
            return result.content[0].text  # type: ignore[union-attr]

    return asyncio.run(go())


def stop_manager(pid: int, timeout: float = 20.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return
        if status.rsplit(")", 1)[1].split()[0] == "Z":  # exited; its (re)parent has not reaped it yet
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    raise AssertionError(f"manager {pid} did not stop within {timeout} s")


def wait_until(predicate: Any, timeout: float = 20.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def manager_pid() -> int:
    return int(ManagerClient().call("ping")["pid"])


class RawSession:
    """A 2025-11-25 session over plain keep-alive HTTP: cheap enough to time single calls."""

    HEADERS: ClassVar[dict[str, str]] = {
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
    }

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url
        self.http = httpx.Client(timeout=timeout)
        self.next_id = 0
        answer = self._post(
            "initialize",
            {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "workload-tests", "version": "1"},
            },
        )
        assert "result" in answer, answer
        self.http.headers.update({"mcp-protocol-version": "2025-11-25"})
        self.http.post(url, headers=self.HEADERS, json={"jsonrpc": "2.0", "method": "notifications/initialized"})

    def _post(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        response = self.http.post(
            self.url,
            headers=self.HEADERS,
            json={"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params},
        )
        if "mcp-session-id" in response.headers:
            self.http.headers["mcp-session-id"] = response.headers["mcp-session-id"]
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            data = [line[5:] for line in response.text.splitlines() if line.startswith("data:")]
            return dict(json.loads(data[-1]))
        return dict(response.json())

    def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return self._post("tools/call", {"name": tool, "arguments": arguments})

    def text(self, tool: str, arguments: dict[str, Any]) -> str:
        answer = self.call(tool, arguments)
        assert "result" in answer, answer
        return str(answer["result"]["content"][0]["text"])

    def close(self) -> None:
        self.http.close()


def crashing_tiny_server(tmp_path: Path, trigger: Path) -> list[str]:
    """`hivekeeper run` arguments ending the command line: the tiny server, which crashes at start while
    ``trigger`` exists (``tmp_path`` is mounted so the sandbox sees it)."""
    return [
        "--volume",
        TESTS_VOLUME,
        "--volume",
        f"{tmp_path}:{tmp_path}",
        "--",
        *TINY_COMMAND,
        "--fail-if-exists",
        str(trigger),
    ]

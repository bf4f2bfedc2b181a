"""Real proxies for the transport tests: ``python -m hivekeeper proxy`` in front of real servers."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

import pytest

from tests.conftest import ECHO_SERVER, FIXTURES

INTERACTIVE = [sys.executable, str(FIXTURES / "interactive_server.py")]
INTERACTIVE_LEGACY = [sys.executable, str(FIXTURES / "legacy_only.py"), *INTERACTIVE]
MODERN_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


@dataclass
class Proxy:
    url: str
    process: subprocess.Popen[bytes]
    stderr: IO[bytes]
    """A file, not a pipe: a pipe nobody drains would stall the proxy once full."""

    @property
    def base(self) -> str:
        return self.url.removesuffix("/mcp")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stderr_text(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")


def start_proxy(args: list[str], *, timeout: float = 30.0) -> Proxy:
    """Start the proxy, wait for the URL line it prints once the backend answered."""
    stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the proxy; stop_proxy closes it
    process = subprocess.Popen(
        [sys.executable, "-m", "hivekeeper", "proxy", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=stderr,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            line = process.stdout.readline().decode().strip()
            if line:
                return Proxy(line, process, stderr)
        if process.poll() is not None:
            break
    process.kill()
    process.wait()
    stderr.seek(0)
    raise AssertionError(f"proxy did not print its URL: {stderr.read().decode(errors='replace')[-2000:]}")


def stop_proxy(proxy: Proxy) -> None:
    proxy.process.terminate()
    try:
        proxy.process.wait(10)
    except subprocess.TimeoutExpired:
        proxy.process.kill()
        proxy.process.wait()
    if proxy.process.stdout is not None:
        proxy.process.stdout.close()
    proxy.stderr.close()


@pytest.fixture
def proxy_factory() -> Iterator[Callable[[list[str]], Proxy]]:
    started: list[Proxy] = []

    def factory(args: list[str]) -> Proxy:
        proxy = start_proxy(args)
        started.append(proxy)
        return proxy

    yield factory
    for proxy in started:
        stop_proxy(proxy)


@pytest.fixture(scope="session")
def echo_proxy() -> Iterator[Proxy]:
    proxy = start_proxy(["--", *ECHO_SERVER])
    yield proxy
    stop_proxy(proxy)


@pytest.fixture(scope="session")
def interactive_proxy() -> Iterator[Proxy]:
    proxy = start_proxy(["--", *INTERACTIVE])
    yield proxy
    stop_proxy(proxy)


@pytest.fixture(scope="session")
def legacy_proxy() -> Iterator[Proxy]:
    """The proxy in front of a 2025-11-25-only server."""
    proxy = start_proxy(["--", *INTERACTIVE_LEGACY])
    yield proxy
    stop_proxy(proxy)


def modern_request(
    request_id: int | str, method: str, params: dict[str, object] | None = None
) -> tuple[dict[str, str], dict[str, object]]:
    """Headers and body of a well-formed 2026-07-28 request."""
    body_params: dict[str, object] = dict(params or {})
    body_params["_meta"] = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    headers = {**MODERN_HEADERS, "mcp-protocol-version": "2026-07-28", "mcp-method": method}
    name = body_params.get("name") if method in ("tools/call", "prompts/get") else body_params.get("uri")
    if isinstance(name, str):
        headers["mcp-name"] = name
    return headers, {"jsonrpc": "2.0", "id": request_id, "method": method, "params": body_params}

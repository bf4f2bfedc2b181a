"""Shared helpers for the whole suite."""

from __future__ import annotations

import socket
import sys
import time
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

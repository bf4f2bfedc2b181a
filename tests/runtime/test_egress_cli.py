"""``hivekeeper egress-proxy`` as a process: decisions logged on stdout, bad flags rejected in one line."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def upstream() -> Iterator[int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    yield int(listener.getsockname()[1])
    listener.close()


def _connect_status(port: int, target: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"CONNECT {target} HTTP/1.1\r\n\r\n".encode())
        return sock.recv(200).split(b"\r\n")[0].decode()


def test_serves_the_allowlist_and_logs_each_decision(tmp_path: Path, upstream: int) -> None:
    out = tmp_path / "out"
    with out.open("wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hivekeeper",
                "egress-proxy",
                "--listen",
                "127.0.0.1:0",
                "--allow",
                f"127.0.0.1:{upstream}",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 20
        while "listening on" not in out.read_text():
            assert process.poll() is None and time.monotonic() < deadline, out.read_text()
            time.sleep(0.05)
        port = int(out.read_text().split("listening on 127.0.0.1:")[1].split()[0])
        assert _connect_status(port, f"127.0.0.1:{upstream}") == "HTTP/1.1 200 Connection established"
        assert _connect_status(port, "example.com:443").startswith("HTTP/1.1 403")
        time.sleep(0.2)
        log = out.read_text()
        assert f"egress allowed: 127.0.0.1:{upstream}" in log
        assert "example.com:443 is not in the allowlist" in log
    finally:
        process.terminate()
        process.wait(10)


def test_a_malformed_allow_is_a_one_line_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hivekeeper", "egress-proxy", "--allow", "bad host:99"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "allowed host 'bad host:99'" in result.stderr

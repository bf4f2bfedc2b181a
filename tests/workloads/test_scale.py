"""Fifty sandboxed servers at once, each answering, with the manager itself under 100 MB."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hivekeeper.workloads.control import ManagerClient
from tests.workloads.workload_helpers import TESTS, TINY_SERVER, RawSession, manager_pid

SERVERS = 50
RSS_LIMIT_MB = 100


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.slow
def test_fifty_sandboxed_servers_answer_with_a_lean_manager(manager: ManagerClient) -> None:
    def start(index: int) -> str:
        spec = {
            "name": f"s{index}",
            "source": "/usr/bin/python3",
            "args": [str(TINY_SERVER)],
            "runtime": "sandbox",
            "volumes": [f"{TESTS}:{TESTS}:ro"],
            "memory": "64m",
            "pids": 32,
        }
        return str(ManagerClient().call("run", spec_document=spec)["url"])

    with ThreadPoolExecutor(max_workers=4) as pool:
        urls = list(pool.map(start, range(SERVERS)))
    assert len(set(urls)) == SERVERS
    records = manager.call("list")
    assert [r["status"] for r in records] == ["running"] * SERVERS

    def ask(index: int) -> str:
        session = RawSession(urls[index])
        try:
            return session.text("echo", {"text": f"server {index}"})
        finally:
            session.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(ask, range(SERVERS)))
    assert answers == [f"server {index}" for index in range(SERVERS)]
    rss = rss_mb(manager_pid())
    print(f"manager RSS with {SERVERS} sandboxed servers: {rss:.1f} MB")
    assert rss <= RSS_LIMIT_MB

"""Warm pools (--pool N) and idle-stop (--idle-stop D) against a real manager and real sandboxes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from hivekeeper.runtime.sandbox import SandboxRuntime
from hivekeeper.workloads.control import ManagerClient
from hivekeeper.workloads.state import sandbox_name
from tests.workloads.workload_helpers import (
    TESTS_VOLUME,
    TINY_COMMAND,
    RawSession,
    crashing_tiny_server,
    hk,
    wait_until,
)


def status(name: str) -> dict[str, Any]:
    return dict(json.loads(hk("status", name, "--json").stdout))


def test_pool_serves_from_a_ready_instance_while_another_restarts(manager: ManagerClient, tmp_path: Path) -> None:
    trigger = tmp_path / "fail-now"
    result = hk(
        "run",
        "--name",
        "pooled",
        "--pool",
        "2",
        "--json",
        *crashing_tiny_server(tmp_path, trigger),
    )
    assert result.returncode == 0, result.stderr
    url = json.loads(result.stdout)["url"]
    assert [i["ready"] for i in status("pooled")["instances"]] == [True, True]

    session = RawSession(url)
    trigger.touch()  # from now on a crashed instance cannot come back
    assert "error" in session.call("crash", {})
    # The crashed instance is down (its restarts fail); every request goes to the ready one, at once.
    latencies = []
    for n in range(20):
        started = time.perf_counter()
        assert session.text("echo", {"text": f"n{n}"}) == f"n{n}"
        latencies.append(time.perf_counter() - started)
    # The crashed instance is restarting (not ready) or has been given up on; the other one serves.
    readiness = sorted(i["ready"] for i in status("pooled")["instances"])
    assert readiness in ([False, True], [True])
    wait_until(lambda: len(status("pooled")["instances"]) == 1)
    assert status("pooled")["status"] == "running"
    assert session.text("echo", {"text": "still"}) == "still"
    # A cold start here means at least the restart backoff (0.25 s) plus a process start.
    assert max(latencies) < 0.2, latencies
    session.close()


def test_idle_stop_stops_and_the_next_request_wakes_it(manager: ManagerClient) -> None:
    result = hk("run", "--name", "sleepy", "--idle-stop", "1s", "--json", "--volume", TESTS_VOLUME, "--", *TINY_COMMAND)
    assert result.returncode == 0, result.stderr
    url = json.loads(result.stdout)["url"]
    wait_until(lambda: status("sleepy")["status"] == "idle", timeout=10)
    assert status("sleepy")["instances"] == []
    assert SandboxRuntime().leftovers(sandbox_name("sleepy", 0)) == []

    session = RawSession(url)  # its initialize is the request that wakes the server
    assert session.text("echo", {"text": "awake"}) == "awake"
    assert status("sleepy")["status"] == "running"
    logs = hk("logs", "sleepy").stdout
    assert "stopping until the next request" in logs and "request while idle; starting" in logs
    session.close()

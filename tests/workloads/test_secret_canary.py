"""A canary secret must reach the server's environment and nowhere else: not state, logs, export, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hivekeeper.secrets import default_store
from hivekeeper.workloads.control import ManagerClient
from tests.workloads.workload_helpers import (
    crashing_tiny_server,
    hk,
    hk_process,
    mcp_call,
    wait_until,
)

CANARY = "canary-5e1f0c9a-2b7d-4e63-a1f8-d0c0ffee0042"


def test_canary_secret_is_injected_and_never_written(
    manager: ManagerClient, hivekeeper_home: Path, tmp_path: Path
) -> None:
    default_store().set("canary-token", CANARY)
    trigger = tmp_path / "fail-now"
    outputs: list[str] = []

    def run(*args: str) -> str:
        result = hk(*args)
        outputs.extend([result.stdout, result.stderr])
        assert result.returncode == 0, result.stderr
        return result.stdout

    record = json.loads(
        run(
            "run",
            "--name",
            "canary",
            "--json",
            "--secret",
            "canary-token,target=API_TOKEN",
            "--env",
            "PLAIN=visible",
            *crashing_tiny_server(tmp_path, trigger),
        )
    )
    url = record["url"]
    assert mcp_call(url, "env", {"name": "API_TOKEN"}) == CANARY  # injected at start
    assert mcp_call(url, "env", {"name": "PLAIN"}) == "visible"

    exported = run("export", "canary")
    assert "canary-token,target=API_TOKEN" in exported
    run("status", "canary", "--json")
    run("list", "--json")

    # The server dumps its environment to stderr on every start and crash, then crash-loops into error.
    with pytest.raises(Exception):  # noqa: B017 - the client sees the lost call its own way
        mcp_call(url, "crash")
    wait_until(lambda: mcp_call(url, "echo", {"text": "up"}) == "up")
    trigger.touch()
    with pytest.raises(Exception):  # noqa: B017
        mcp_call(url, "crash")
    wait_until(lambda: json.loads(hk("status", "canary", "--json").stdout)["status"] == "error")
    outputs.append(run("list"))
    logs = run("logs", "canary")
    assert "API_TOKEN=<redacted>" in logs and "PLAIN=visible" in logs  # the dump was there, the value was not
    failed_start = hk_process("restart", "canary")
    outputs.extend([failed_start.stdout, failed_start.stderr])
    assert failed_start.returncode != 0 and "API_TOKEN=<redacted>" in failed_start.stderr

    for output in outputs:
        assert CANARY not in output
    checked = 0
    for file in hivekeeper_home.rglob("*"):
        if file.is_file() and not file.is_socket():
            assert CANARY.encode() not in file.read_bytes(), f"canary found in {file}"
            checked += 1
    assert checked >= 4  # state, log, manager log, encrypted secrets at least
    assert hk("rm", "canary").returncode == 0

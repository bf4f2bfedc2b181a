"""``hivekeeper run`` and the lifecycle commands against a real manager, real sandboxes, real MCP clients."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from hivekeeper.runtime.sandbox import SandboxRuntime
from hivekeeper.workloads import running_endpoints
from hivekeeper.workloads.control import ManagerClient
from hivekeeper.workloads.state import sandbox_name
from tests.workloads.workload_helpers import (
    ECHO_SERVER_PATH,
    TESTS_VOLUME,
    TINY_COMMAND,
    Outcome,
    crashing_tiny_server,
    hk,
    hk_process,
    mcp_call,
    wait_until,
)


def listing() -> dict[str, dict[str, object]]:
    result = hk("list", "--json")
    assert result.returncode == 0, result.stderr
    return {record["name"]: record for record in json.loads(result.stdout)}


def assert_no_leftovers(name: str, instances: int = 1) -> None:
    runtime = SandboxRuntime()
    for index in range(instances):
        assert runtime.leftovers(sandbox_name(name, index)) == []


def test_run_sdk_server_in_sandbox_and_full_lifecycle(
    manager: ManagerClient, hivekeeper_home: Path, tmp_path: Path
) -> None:
    repo = Path(sys.executable).parent.parent.parent
    result = hk(
        "run",
        "--name",
        "echo",
        "--json",
        "--memory",
        "256m",
        "--pids",
        "64",
        "--volume",
        f"{repo}:{repo}:ro",
        "--",
        sys.executable,
        str(ECHO_SERVER_PATH),
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["status"] == "running" and record["runtime"] == "sandbox"
    url = record["url"]
    assert mcp_call(url) == ["echo", "add"]
    assert mcp_call(url, "add", {"a": 2, "b": 40}) == "42"
    assert listing()["echo"]["status"] == "running"

    assert hk("stop", "echo").returncode == 0
    assert listing()["echo"]["status"] == "stopped"
    with pytest.raises(httpx.ConnectError):
        httpx.post(url, json={})
    assert_no_leftovers("echo")
    assert hk("start", "echo").returncode == 0
    assert mcp_call(url, "echo", {"text": "back"}) == "back"  # same port after a stop/start
    assert hk("restart", "echo").returncode == 0
    assert mcp_call(url, "echo", {"text": "again"}) == "again"

    exported = hk("export", "echo")
    assert exported.returncode == 0
    run_yaml = tmp_path / "run.yaml"
    run_yaml.write_text(exported.stdout)
    assert "name: echo" in exported.stdout and "memory: 256m" in exported.stdout
    assert hk("rm", "echo").returncode == 0
    assert "echo" not in listing()
    assert not (hivekeeper_home / "state" / "workloads" / "echo.json").exists()
    assert not (hivekeeper_home / "state" / "logs" / "echo.log").exists()
    assert_no_leftovers("echo")

    again = hk("run", "--from-config", str(run_yaml), "--json")
    assert again.returncode == 0, again.stderr
    assert mcp_call(json.loads(again.stdout)["url"], "add", {"a": 1, "b": 1}) == "2"
    assert hk("rm", "echo").returncode == 0


def test_crash_restarts_then_gives_up_into_error(manager: ManagerClient, tmp_path: Path) -> None:
    trigger = tmp_path / "fail-now"
    result = hk(
        "run",
        "--name",
        "flaky",
        "--json",
        *crashing_tiny_server(tmp_path, trigger),
    )
    assert result.returncode == 0, result.stderr
    url = json.loads(result.stdout)["url"]

    # One crash: restarted with backoff, answers again.
    with pytest.raises(Exception):  # noqa: B017 - the SDK reports the lost call in its own way
        mcp_call(url, "crash")
    wait_until(lambda: mcp_call(url, "echo", {"text": "up"}) == "up")
    assert listing()["flaky"]["restarts"] == 1

    # A crash loop: every restart fails at once; after the limit (2 in tests) the workload is in error.
    trigger.touch()
    with pytest.raises(Exception):  # noqa: B017
        mcp_call(url, "crash")
    record = wait_until(lambda: listing()["flaky"] if listing()["flaky"]["status"] == "error" else None)
    assert "exited with code 1" in str(record["last_error"])
    assert_no_leftovers("flaky")
    logs = hk("logs", "flaky")
    assert "giving up" in logs.stdout and "restarting with backoff" in logs.stdout

    # restart clears the error once the cause is gone.
    trigger.unlink()
    assert hk("restart", "flaky").returncode == 0
    assert mcp_call(url, "echo", {"text": "fixed"}) == "fixed"


def test_workloads_come_back_after_a_manager_restart(manager: ManagerClient) -> None:
    first = json.loads(
        hk("run", "--name", "keep", "--group", "team", "--json", "--volume", TESTS_VOLUME, "--", *TINY_COMMAND).stdout
    )
    second = json.loads(hk("run", "--name", "paused", "--json", "--volume", TESTS_VOLUME, "--", *TINY_COMMAND).stdout)
    assert hk("stop", "paused").returncode == 0
    # What AI clients get configured with, read from state without the manager.
    assert running_endpoints() == [("keep", first["url"])]
    assert running_endpoints("team") == [("keep", first["url"])] and running_endpoints("other") == []
    assert hk("manager", "stop").returncode == 0
    assert json.loads(hk("manager", "status", "--json").stdout)["running"] is False
    with pytest.raises(httpx.ConnectError):
        httpx.post(first["url"], json={})

    # Any command brings the manager back; it restores what was running, not what the user stopped.
    assert listing()["paused"]["status"] == "stopped"
    wait_until(lambda: listing()["keep"]["status"] == "running")
    assert mcp_call(first["url"], "echo", {"text": "restored"}) == "restored"
    with pytest.raises(httpx.ConnectError):
        httpx.post(second["url"], json={})


def _assert_clean_failure(result: subprocess.CompletedProcess[str] | Outcome, code: int, *needles: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    stderr = result.stderr
    assert stderr.startswith("error: ") and stderr.count("\n") == 1, stderr
    for needle in needles:
        assert needle in stderr, stderr


def test_bad_input_fails_in_one_line_and_leaves_nothing(
    manager: ManagerClient, tmp_path: Path, hivekeeper_home: Path
) -> None:
    # A real process for a few (what a user's terminal shows), in-process for the rest (same code path).
    _assert_clean_failure(hk_process("run", "no-such-server-anywhere"), 3, "unknown source 'no-such-server-anywhere'")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        _assert_clean_failure(
            hk_process("run", "--name", "p", "--port", str(port), "--volume", TESTS_VOLUME, "--", *TINY_COMMAND),
            4,
            f"port {port} is in use",
        )
    _assert_clean_failure(hk_process("run", "--runtime", "docker", "busybox"), 5, "runtime docker is not available")

    _assert_clean_failure(
        hk("run", "--name", "s", "--secret", "absent,target=TOKEN", "--volume", TESTS_VOLUME, "--", *TINY_COMMAND),
        3,
        "secret not found: absent",
    )
    _assert_clean_failure(hk("run", "--memory", "lots", "--", *TINY_COMMAND), 2, "memory", "'lots'")
    bad_profile = tmp_path / "profile.yaml"
    bad_profile.write_text("network: {outbound: [\n")
    _assert_clean_failure(
        hk("run", "--profile", str(bad_profile), "--", *TINY_COMMAND), 2, str(bad_profile), "not valid YAML"
    )
    wrong_field = tmp_path / "wrong.yaml"
    wrong_field.write_text("resources: {memory: lots}\n")
    _assert_clean_failure(
        hk("run", "--profile", str(wrong_field), "--", *TINY_COMMAND), 2, "resources.memory", "'lots' is not a size"
    )
    _assert_clean_failure(hk("run", "--name", "dies", "--", "/bin/false"), 1, "dies", "exited with code 1")

    assert listing() == {}
    assert list((hivekeeper_home / "state" / "workloads").glob("*")) == []
    for name in ("s", "p", "dies"):
        assert_no_leftovers(name)


def test_remote_url_is_proxied_without_a_process(manager: ManagerClient) -> None:
    upstream = hk("run", "--name", "upstream", "--json", "--volume", TESTS_VOLUME, "--", *TINY_COMMAND)
    upstream_url = json.loads(upstream.stdout)["url"]
    proxied = hk("run", "--name", "remote", "--json", upstream_url)
    assert proxied.returncode == 0, proxied.stderr
    record = json.loads(proxied.stdout)
    assert record["url"] != upstream_url
    assert mcp_call(record["url"], "echo", {"text": "via remote"}) == "via remote"
    status = json.loads(hk("status", "remote", "--json").stdout)
    assert status["instances"] == [{"index": 0, "ready": True, "in_flight": 0, "crashes": 0}]


def test_allow_host_gives_the_server_the_egress_proxy_and_nothing_else_does(manager: ManagerClient) -> None:
    closed = json.loads(hk("run", "--name", "offline", "--json", "--volume", TESTS_VOLUME, "--", *TINY_COMMAND).stdout)
    allowed = json.loads(
        hk(
            "run",
            "--name",
            "online",
            "--json",
            "--allow-host",
            "api.example.com:443",
            "--volume",
            TESTS_VOLUME,
            "--",
            *TINY_COMMAND,
        ).stdout
    )
    assert mcp_call(closed["url"], "env", {"name": "HTTPS_PROXY"}) == "<unset>"  # profile none: no network at all
    assert mcp_call(allowed["url"], "env", {"name": "HTTPS_PROXY"}).startswith("http://127.0.0.1:")
    exported = hk("export", "online").stdout
    assert "allow_hosts:\n- api.example.com:443" in exported

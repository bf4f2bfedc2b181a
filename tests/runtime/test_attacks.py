"""The attack battery: a hostile MCP server tries to escape each runtime; every attempt must fail, and
its neighbours and the host must not notice."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import anyio
import pytest

from hivekeeper.runtime.base import EgressRule, LaunchSpec, Limits, Mount, Runtime
from tests.runtime.runtime_helpers import ALLOWED_HOST, python_spec, running

MEMORY_LIMIT = 96 << 20
PIDS_LIMIT = 32
# TEST-NET-1 (RFC 5737): a documentation address; no packet to it can leave a sandbox anyway.
OUTSIDE_ADDRESS = "192.0.2.1"


@pytest.fixture(params=["sandbox", "docker"])
def runtime(request: pytest.FixtureRequest) -> Runtime:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.fixture
def neighbour_state(tmp_path: Path) -> Path:
    """Another server's writable volume, holding something worth stealing."""
    state = tmp_path / "neighbour-state"
    state.mkdir()
    (state / "token").write_text("neighbour-secret")
    return state


@pytest.fixture
def home_canary() -> Iterator[Path]:
    canary = Path.home() / f".hivekeeper-attack-canary-{os.getpid()}"
    canary.write_text("home-secret")
    yield canary
    canary.unlink()


def attacker_spec(allowed_port: int, **fields: object) -> LaunchSpec:
    spec = python_spec(
        "attacker",
        "malicious_server.py",
        egress=[EgressRule(ALLOWED_HOST, allowed_port)],
        limits=Limits(memory_bytes=MEMORY_LIMIT, pids=PIDS_LIMIT, cpus=0.5),
    )
    return replace(spec, **fields)  # type: ignore[arg-type]


def refused(verdict: str) -> bool:
    return verdict.startswith("error: ")


async def test_host_files_are_out_of_reach_and_the_root_is_read_only(
    runtime: Runtime, allowed_http_port: int, neighbour_state: Path, home_canary: Path
) -> None:
    async with running(runtime, attacker_spec(allowed_http_port)) as attacker:
        for path in ("/etc/shadow", str(home_canary), str(neighbour_state / "token"), "/proc/1/root/etc/shadow"):
            verdict = await attacker.call("read_file", path=path)
            assert refused(verdict), f"{path}: {verdict}"
        assert refused(await attacker.call("list_dir", path=str(Path.home() / ".ssh")))
        # Nothing outside /tmp is writable: not the system, not the (mounted, read-only) code.
        for path in ("/usr/bin/pwned", "/etc/passwd", "/pwned", str(Path(__file__).parent / "pwned")):
            verdict = await attacker.call("write_file", path=path)
            assert refused(verdict), f"{path}: {verdict}"
        assert (await attacker.call("write_file", path="/tmp/scratch")).startswith("ok")


async def test_neighbour_state_stays_private_while_both_run(
    runtime: Runtime, allowed_http_port: int, neighbour_state: Path
) -> None:
    neighbour = replace(
        python_spec("neighbour", "echo_server.py"),
        mounts=[*python_spec("x", "echo_server.py").mounts, Mount(neighbour_state, "/state", read_only=False)],
    )
    async with running(runtime, neighbour) as victim, running(runtime, attacker_spec(allowed_http_port)) as attacker:
        assert refused(await attacker.call("read_file", path="/state/token"))
        assert refused(await attacker.call("read_file", path=str(neighbour_state / "token")))
        assert await victim.call("echo", text="still mine") == "still mine"


async def test_no_privileges_can_be_kept_or_regained(runtime: Runtime, allowed_http_port: int) -> None:
    async with running(runtime, attacker_spec(allowed_http_port)) as attacker:
        capabilities = dict(line.split(":\t") for line in (await attacker.call("capabilities")).splitlines())
        for kind in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            assert int(capabilities[kind], 16) == 0, f"{kind} = {capabilities[kind]}"
        identity = await attacker.call("identity")
        assert identity.startswith("uid=65534 gid=65534 pid=") and "host=attacker" in identity
        assert int(identity.split("pid=")[1].split()[0]) < 10, "its own pid namespace: it sees only itself"
        assert refused(await attacker.call("become_root"))
        assert refused(await attacker.call("new_user_namespace"))
        # Tracing its own sandbox's processes is no escape; tracing anything outside must fail. The host
        # processes are named by host pids above the sandbox's few: the test runner's parent may be pid 1
        # (an orphaned run, a container), which inside the sandbox names the sandbox's own first process.
        with subprocess.Popen(["sleep", "60"]) as host_process:
            try:
                for pid in (os.getpid(), host_process.pid):
                    assert pid >= 10, f"host pid {pid} could name a process of the sandbox's own"
                    assert refused(await attacker.call("ptrace", pid=pid))
            finally:
                host_process.kill()


async def test_network_leaves_only_through_the_allowlist(
    runtime: Runtime, host_service_port: int, allowed_http_port: int
) -> None:
    async with running(runtime, attacker_spec(allowed_http_port)) as attacker:
        # Host loopback services: neither directly (own network namespace) nor through the proxy.
        assert refused(await attacker.call("tcp_connect", host="127.0.0.1", port=host_service_port))
        assert refused(await attacker.call("proxy_connect", host="127.0.0.1", port=host_service_port))
        assert refused(await attacker.call("proxy_connect", host="localhost", port=host_service_port))
        # A host that is not on the allowlist, and the allowed host on another port.
        assert "403" in await attacker.call("proxy_connect", host="blocked.test", port=443)
        assert "403" in await attacker.call("http_get", url=f"http://blocked.test:{allowed_http_port}/")
        assert refused(await attacker.call("proxy_connect", host=ALLOWED_HOST, port=host_service_port))
        # Going around the proxy: no route, no resolver, no raw packets.
        assert refused(await attacker.call("tcp_connect", host=OUTSIDE_ADDRESS, port=443))
        assert refused(await attacker.call("resolve", name="example.com"))
        assert refused(await attacker.call("dns_query", server_ip=OUTSIDE_ADDRESS))
        assert refused(await attacker.call("raw_socket"))
        # While the allowlisted host stays reachable.
        allowed = await attacker.call("http_get", url=f"http://{ALLOWED_HOST}:{allowed_http_port}/")
        assert allowed == "ok: 200 hello from the allowed host"


async def test_a_server_without_egress_has_no_network_at_all(runtime: Runtime, allowed_http_port: int) -> None:
    async with running(runtime, attacker_spec(allowed_http_port, egress=None)) as attacker:
        assert refused(await attacker.call("http_get", url=f"http://{ALLOWED_HOST}:{allowed_http_port}/"))
        assert refused(await attacker.call("tcp_connect", host="127.0.0.1", port=3128))


async def test_resource_limits_stop_only_the_offender(runtime: Runtime, allowed_http_port: int) -> None:
    async with running(runtime, python_spec("bystander", "echo_server.py")) as bystander:
        assert sorted(tool.name for tool in (await bystander.client.list_tools()).tools) == ["add", "echo"]
        async with running(runtime, attacker_spec(allowed_http_port)) as attacker:
            verdict = await attacker.call("fork_bomb", children=10 * PIDS_LIMIT)
            assert int(verdict.split()[1]) < PIDS_LIMIT, verdict
            assert "BlockingIOError" in verdict, verdict
            assert (await attacker.call("identity")).startswith("uid=65534"), "the bomb's own server survives"
            with pytest.raises(Exception):  # noqa: B017 - the server dies mid-call; how the client reports it varies
                await attacker.call("allocate", megabytes=4 * (MEMORY_LIMIT >> 20))
            with anyio.fail_after(10):
                returncode = await attacker.process.wait()
            assert returncode != 0, "the memory limit killed the offender"
        assert await bystander.call("add", a=20, b=22) == "42"

"""The docker and podman runtimes against real engines started by the session fixtures."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hivekeeper.errors import ConfigError, UnavailableError
from hivekeeper.runtime.base import EgressRule, LaunchSpec, Limits
from hivekeeper.runtime.docker import LABEL, DockerRuntime
from hivekeeper.runtime.podman import PodmanRuntime
from tests.runtime.runtime_helpers import ALLOWED_HOST, python_spec, running


async def test_podman_containers_are_confined_like_docker_ones(podman: PodmanRuntime, allowed_http_port: int) -> None:
    spec = python_spec(
        "confined",
        "malicious_server.py",
        egress=[EgressRule(ALLOWED_HOST, allowed_http_port)],
        limits=Limits(memory_bytes=128 << 20, pids=32, cpus=0.5),
    )
    async with running(podman, spec) as server:
        assert sorted(tool.name for tool in (await server.client.list_tools()).tools)[:2] == ["allocate", "become_root"]
        assert (await server.call("identity")).startswith("uid=65534 gid=65534")
        assert "CapEff:\t0000000000000000" in await server.call("capabilities")
        assert (await server.call("write_file", path="/etc/passwd")).startswith("error: OSError: [Errno 30]")
        assert "403" in await server.call("proxy_connect", host="blocked.test", port=443)
        assert await server.call("http_get", url=f"http://{ALLOWED_HOST}:{allowed_http_port}/") == (
            "ok: 200 hello from the allowed host"
        )
        forked = int((await server.call("fork_bomb", children=200)).split()[1])
        assert forked < 32


async def test_teardown_after_sigkill_leaves_no_container(docker: DockerRuntime, allowed_http_port: int) -> None:
    spec = python_spec("doomed", "echo_server.py", egress=[EgressRule(ALLOWED_HOST, allowed_http_port)])
    process = await docker.launch(spec)
    assert docker.leftovers("doomed")
    process.kill()
    await process.wait()
    assert process.returncode == 137
    await docker.cleanup("doomed")
    assert docker.leftovers("doomed") == []
    assert docker.client.containers.list(all=True, filters={"label": LABEL}) == []


async def test_a_missing_image_is_a_config_error_and_leaves_nothing(docker: DockerRuntime) -> None:
    spec = replace(python_spec("noimage", "echo_server.py"), image="hivekeeper-test/absent:1")
    with pytest.raises(ConfigError, match=r"image 'hivekeeper-test/absent:1' not found"):
        await docker.launch(spec)
    assert docker.leftovers("noimage") == []


async def test_an_unreachable_engine_is_reported_in_one_line(tmp_path: Path) -> None:
    runtime = DockerRuntime(base_url=f"unix://{tmp_path}/absent.sock")
    reason = runtime.unavailable_reason()
    assert reason is not None and "not reachable" in reason and "\n" not in reason
    with pytest.raises(UnavailableError, match="not reachable"):
        await runtime.launch(LaunchSpec(name="x", command=["true"], image="busybox"))

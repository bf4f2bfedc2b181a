"""The sandbox runtime end to end: a real MCP server under bubblewrap, cgroups and the egress proxy."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hivekeeper.errors import ConfigError, ConflictError
from hivekeeper.runtime.base import EgressRule, LaunchSpec, Limits, Mount
from hivekeeper.runtime.mounts import package_cache, package_cache_mount
from hivekeeper.runtime.sandbox import SandboxRuntime
from tests.runtime.runtime_helpers import ALLOWED_HOST, python_spec, running


async def test_declared_mounts_are_visible_read_only_unless_said(
    sandbox: SandboxRuntime, tmp_path: Path, hivekeeper_home: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "input.txt").write_text("from the host")
    state = tmp_path / "state"
    state.mkdir(mode=0o777)
    state.chmod(0o777)
    cache = package_cache("mounts")  # where a uvx:// or npx:// source would be installed, outside the sandbox
    assert hivekeeper_home in cache.parents
    (cache / "entry.py").write_text("installed")
    mounts = [
        Mount(host=data, target="/data"),
        Mount(host=state, target="/state", read_only=False),
        package_cache_mount("mounts"),
    ]
    spec = python_spec("mounts", "malicious_server.py")
    spec = replace(spec, mounts=[*spec.mounts, *mounts])
    async with running(sandbox, spec) as server:
        assert await server.call("read_file", path="/data/input.txt") == "ok: b'from the host'"
        assert (await server.call("write_file", path="/data/x")).startswith("error: OSError: [Errno 30]")
        assert (await server.call("write_file", path="/state/out")).startswith("ok")
        assert await server.call("read_file", path=str(cache / "entry.py")) == "ok: b'installed'"
        assert (await server.call("write_file", path=str(cache / "x"))).startswith("error: OSError: [Errno 30]")
        assert (await server.call("list_dir", path=str(cache.parent))) == "ok: ['mounts']", "only its own cache"
    assert (state / "out").read_text() == "pwned"


async def test_second_launch_of_a_running_name_conflicts(sandbox: SandboxRuntime) -> None:
    spec = LaunchSpec(name="twice", command=["/bin/sleep", "30"])
    first = await sandbox.launch(spec)
    try:
        with pytest.raises(ConflictError, match="already running"):
            await sandbox.launch(spec)
        assert first.returncode is None, "the running one is untouched"
    finally:
        await sandbox.cleanup("twice")
    assert first.returncode is not None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "Bad Name"}, "server name 'Bad Name'"),
        ({"mounts": [Mount(host=Path("/nonexistent/x"), target="/x")]}, "host path does not exist"),
        ({"mounts": [Mount(host=Path("/tmp"), target="relative")]}, "target must be an absolute"),
        ({"limits": Limits(memory_bytes=0)}, "limits.memory: must be positive"),
    ],
)
async def test_bad_specs_are_refused_before_anything_starts(
    sandbox: SandboxRuntime, fields: dict[str, Any], message: str
) -> None:
    spec = replace(python_spec("bad", "echo_server.py"), **fields)
    with pytest.raises(ConfigError, match=message):
        await sandbox.launch(spec)
    assert sandbox.leftovers(spec.name) == []


def _host_network_objects() -> tuple[str, str, str]:
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    rules = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True, check=False).stdout
    return links, netns, rules


async def test_teardown_leaves_nothing_behind_even_after_sigkill(
    sandbox: SandboxRuntime, allowed_http_port: int
) -> None:
    before = _host_network_objects()
    spec = python_spec(
        "doomed", "echo_server.py", egress=[EgressRule(ALLOWED_HOST)], limits=Limits(memory_bytes=256 << 20, pids=64)
    )
    process = await sandbox.launch(spec)
    assert sandbox.cgroups.exists("doomed")
    assert (sandbox.state_root / "doomed").is_dir()
    process.kill()
    await process.wait()
    await sandbox.cleanup("doomed")
    assert sandbox.leftovers("doomed") == []
    assert "doomed" not in sandbox.cgroups.names()
    assert _host_network_objects() == before

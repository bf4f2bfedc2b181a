"""The sandbox without root: a manager running as an unprivileged user still gets the user, pid, mount
and network namespaces, the read-only root and the proxy-only way out; the limits it cannot enforce
without a delegated cgroup hierarchy are reported by ``caveats``, not silently dropped.

The manager's side runs in a forked child of the test that has given up root for uid 65534 (the
interpreter of the test may live where that user cannot read, so everything is imported first); the
server inside is the system's own Python, which every user can run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures.thread  # noqa: F401 - asyncio.to_thread imports it lazily, after root is gone
import json
import os
import shutil
import tempfile
import traceback
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hivekeeper.runtime.base import EgressRule, LaunchSpec, Limits
from hivekeeper.runtime.sandbox import SandboxRuntime
from tests.runtime.conftest import make_test_proxy
from tests.runtime.runtime_helpers import ALLOWED_HOST

UNPRIVILEGED = 65534
SYSTEM_PYTHON = "/usr/bin/python3"

# What the server reports about its world: who it is, whether it can write the root, what the egress
# proxy lets through, and whether anything but the proxy is reachable.
PROBE = r"""
import json, os, socket, sys, urllib.error, urllib.request
port = int(sys.argv[1])
report = {"uid": os.getuid(), "pid": os.getpid()}
try:
    open("/usr/probe", "w")
    report["root_writable"] = True
except OSError:
    report["root_writable"] = False
report["allowed"] = urllib.request.urlopen(f"http://allowed.test:{port}/", timeout=10).read().decode()
try:
    urllib.request.urlopen(f"http://elsewhere.test:{port}/", timeout=10)
    report["elsewhere"] = "reached"
except urllib.error.HTTPError as exc:
    report["elsewhere"] = exc.code
try:
    socket.create_connection(("127.0.0.1", port), timeout=2)
    report["host_loopback"] = "reached"
except OSError as exc:
    report["host_loopback"] = type(exc).__name__
print(json.dumps(report))
"""


@pytest.fixture
def unprivileged_state() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("needs root to create the unprivileged user's side of the test")
    if shutil.which("bwrap") is None or not Path(SYSTEM_PYTHON).exists():
        pytest.skip("needs bubblewrap and the system Python")
    state = Path(tempfile.mkdtemp(prefix="hivekeeper-rootless-"))
    os.chown(state, UNPRIVILEGED, UNPRIVILEGED)
    state.chmod(0o700)
    try:
        yield state
    finally:
        shutil.rmtree(state, ignore_errors=True)


def as_unprivileged_user(work: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """Run ``work`` in a forked child that has dropped root for uid 65534; its JSON answer comes back."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        code = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(UNPRIVILEGED)
            os.setuid(UNPRIVILEGED)
            answer = asyncio.run(work())
            code = 0
        except BaseException:
            answer = {"error": traceback.format_exc()}
        finally:
            os.write(write_end, json.dumps(answer).encode())
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        answer = json.loads(pipe.read() or b"{}")
    os.waitpid(child, 0)
    assert "error" not in answer, answer.get("error")
    return answer


def test_an_unprivileged_manager_still_isolates_the_server(unprivileged_state: Path, allowed_http_port: int) -> None:
    async def work() -> dict[str, Any]:
        runtime = SandboxRuntime(proxy=make_test_proxy(), state_root=unprivileged_state)
        spec = LaunchSpec(
            name="rootless",
            command=[SYSTEM_PYTHON, "-c", PROBE, str(allowed_http_port)],
            egress=[EgressRule(ALLOWED_HOST, allowed_http_port)],
            limits=Limits(memory_bytes=256 << 20, pids=64),
        )
        answer: dict[str, Any] = {
            "manager_uid": os.geteuid(),
            "unavailable": runtime.unavailable_reason(),
            "caveats": runtime.caveats(spec),
        }
        process = await runtime.launch(spec)
        assert process.stdout is not None and process.stderr is not None
        out, err = await asyncio.wait_for(asyncio.gather(process.stdout.read(), process.stderr.read()), 60)
        answer["exit"] = await process.wait()
        answer["server"] = json.loads(out) if out.strip() else err.decode(errors="replace")
        await runtime.cleanup("rootless")
        answer["leftovers"] = runtime.leftovers("rootless")
        return answer

    answer = as_unprivileged_user(work)
    assert answer["manager_uid"] == UNPRIVILEGED and answer["unavailable"] is None
    server = answer["server"]
    assert answer["exit"] == 0, server
    assert server["uid"] == UNPRIVILEGED and server["pid"] == 2  # its own pid namespace, under bwrap's init
    assert server["root_writable"] is False
    assert server["allowed"] == "hello from the allowed host"
    assert server["elsewhere"] == 403  # the egress proxy's refusal
    assert server["host_loopback"] == "ConnectionRefusedError"  # its loopback is not the host's
    # cgroup v1 (and an undelegated v2) is root's: the limits asked for are said to be unenforced.
    assert len(answer["caveats"]) == 1 and "NOT enforced" in answer["caveats"][0]
    assert answer["leftovers"] == []


def test_a_killed_unprivileged_sandbox_takes_its_server_with_it(unprivileged_state: Path) -> None:
    """No cgroup to sweep without root: killing must reach the server through the sandbox's own init."""

    async def work() -> dict[str, Any]:
        runtime = SandboxRuntime(proxy=make_test_proxy(), state_root=unprivileged_state)
        spec = LaunchSpec(name="doomed", command=[SYSTEM_PYTHON, "-c", "import time; time.sleep(600)"])
        process = await runtime.launch(spec)
        inside = await asyncio.to_thread(_descendants, process.pid)
        process.kill()  # at once, while bubblewrap may still be setting up
        await asyncio.wait_for(process.wait(), 30)
        survivors = await _survivors(inside)
        await runtime.cleanup("doomed")
        return {"inside": inside, "survivors": survivors, "leftovers": runtime.leftovers("doomed")}

    answer = as_unprivileged_user(work)
    assert answer["inside"], "the sandbox had no processes to check"
    assert answer["survivors"] == [] and answer["leftovers"] == []


async def _survivors(pids: list[int], grace: float = 5.0) -> list[int]:
    """Those of ``pids`` still running after ``grace`` seconds. A killed task exits asynchronously: under
    load it can still be seen running, its memory already gone, for a moment after its parent was reaped."""
    deadline = asyncio.get_running_loop().time() + grace
    while True:
        alive = [pid for pid in pids if _state(pid) != "Z"]
        if not alive or asyncio.get_running_loop().time() > deadline:
            return alive
        await asyncio.sleep(0.05)


def _descendants(pid: int) -> list[int]:
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for task in Path(f"/proc/{parent}/task").iterdir():
            children = (task / "children").read_text().split()
            found += [int(child) for child in children]
            frontier += [int(child) for child in children]
    return found


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"

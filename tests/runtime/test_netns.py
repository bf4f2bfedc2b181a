"""Planting the egress listener in a bubblewrap sandbox's network namespace, against real bubblewrap."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from hivekeeper.runtime.netns import plant_listener_in_sandbox

STARTS = 300


def _start_held_sandbox() -> tuple[subprocess.Popen[bytes], int, int]:
    """bubblewrap with its own network namespace, held before exec as the sandbox runtime holds it: the
    process, the sandbox's pid, and the fd that lets it go on."""
    info_read, info_write = os.pipe()
    block_read, block_write = os.pipe()
    argv = ["bwrap", "--unshare-user", "--unshare-pid", "--unshare-net", "--ro-bind", "/", "/"]
    argv += ["--info-fd", str(info_write), "--block-fd", str(block_read), "true"]
    process = subprocess.Popen(argv, pass_fds=(info_write, block_read), stderr=subprocess.PIPE)
    os.close(info_write)
    os.close(block_read)
    with os.fdopen(info_read, "rb") as info:
        pid = int(json.loads(info.read())["child-pid"])
    return process, pid, block_write


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
def test_planting_never_races_the_sandboxs_own_loopback_setup() -> None:
    # Planted the moment the namespace exists, while bubblewrap is still adding 127.0.0.1 and bringing
    # loopback up. Bringing it up from the host instead killed ~4% of sandboxes ("loopback: Failed
    # RTM_NEWADDR"), so this many starts would all but surely show it.
    failures = []
    for _ in range(STARTS):
        process, pid, release = _start_held_sandbox()
        try:
            plant_listener_in_sandbox(pid, 3128).close()
        finally:
            with open(release, "wb") as go_on:
                go_on.write(b"1")
            _, stderr = process.communicate(timeout=30)
        if process.returncode != 0:
            failures.append(stderr.decode(errors="replace").strip())
    assert failures == [], failures[:3]

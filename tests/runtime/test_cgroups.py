"""cgroup detection and the files each hierarchy version writes. v1 runs for real on this host in the
sandbox tests; v2 (most hosts) is checked here against a directory laid out like a cgroup2 mount."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hivekeeper.errors import UnavailableError
from hivekeeper.runtime.base import Limits
from hivekeeper.runtime.cgroups import CgroupV1, CgroupV2, detect, detect_host, join_script

V2_MOUNTINFO = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
V2_CGROUP = "0::/system.slice/hivekeeper.service\n"
HYBRID_MOUNTINFO = """\
25 24 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
27 25 0:24 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
29 25 0:26 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
"""
HYBRID_CGROUP = "4:memory:/outer/job\n2:cpu,cpuacct:/\n1:pids:/\n0::/\n"


def test_v2_is_chosen_when_the_unified_hierarchy_has_every_controller(tmp_path: Path) -> None:
    root = tmp_path / "cgroup2"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma misc\n")
    driver = detect(V2_MOUNTINFO.replace("/sys/fs/cgroup", str(root)), V2_CGROUP)
    assert isinstance(driver, CgroupV2)
    assert driver.base == root / "system.slice/hivekeeper.service"


def test_hybrid_hosts_use_v1_nested_under_the_managers_own_cgroups(tmp_path: Path) -> None:
    driver = detect(HYBRID_MOUNTINFO.replace("/sys/fs/cgroup", str(tmp_path)), HYBRID_CGROUP)
    assert isinstance(driver, CgroupV1)
    assert driver.bases == {
        "memory": tmp_path / "memory/outer/job",
        "cpu": tmp_path / "cpu,cpuacct",
        "pids": tmp_path / "pids",
    }


def test_missing_controllers_are_named() -> None:
    only_memory = "27 25 0:24 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    with pytest.raises(UnavailableError, match=r"not mounted.*cpu, pids"):
        detect(only_memory, "4:memory:/\n")


def test_v2_writes_limits_and_delegates_controllers(tmp_path: Path) -> None:
    driver = CgroupV2(tmp_path)
    driver.create("srv", Limits(memory_bytes=256 << 20, cpus=0.5, pids=64))
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+memory +cpu +pids"
    assert (tmp_path / "hivekeeper/cgroup.subtree_control").read_text() == "+memory +cpu +pids"
    group = tmp_path / "hivekeeper/srv"
    assert (group / "memory.max").read_text() == str(256 << 20)
    assert (group / "memory.swap.max").read_text() == "0"
    assert (group / "cpu.max").read_text() == "50000 100000"
    assert (group / "pids.max").read_text() == "64"
    assert driver.procs_files("srv") == [group / "cgroup.procs"]
    assert driver.names() == ["srv"]


def test_v2_leaves_unset_limits_alone(tmp_path: Path) -> None:
    CgroupV2(tmp_path).create("srv", Limits(pids=10))
    assert sorted(path.name for path in (tmp_path / "hivekeeper/srv").iterdir()) == ["pids.max"]


def test_v1_writes_each_controller_and_swap_when_accounted(tmp_path: Path) -> None:
    bases = {"memory": tmp_path / "memory/job", "cpu": tmp_path / "cpu", "pids": tmp_path / "pids"}
    memory_group = bases["memory"] / "hivekeeper/srv"
    driver = CgroupV1(bases)
    driver.create("srv", Limits(memory_bytes=1 << 30, cpus=1.5, pids=128))
    assert (memory_group / "memory.limit_in_bytes").read_text() == str(1 << 30)
    assert not (memory_group / "memory.memsw.limit_in_bytes").exists(), "no swap accounting in a plain dir"
    assert (bases["cpu"] / "hivekeeper/srv/cpu.cfs_quota_us").read_text() == "150000"
    assert (bases["pids"] / "hivekeeper/srv/pids.max").read_text() == "128"
    assert len(driver.procs_files("srv")) == 3


def test_host_limits_are_enforced_by_the_kernel() -> None:
    driver = detect_host()
    driver.create("limits-probe", Limits(memory_bytes=64 << 20, pids=16, cpus=0.25))
    try:
        if isinstance(driver, CgroupV1):
            memory = driver.bases["memory"] / "hivekeeper/limits-probe/memory.limit_in_bytes"
            assert int(memory.read_text()) == 64 << 20
            assert (driver.bases["pids"] / "hivekeeper/limits-probe/pids.max").read_text().strip() == "16"
        else:
            assert isinstance(driver, CgroupV2)
            assert (driver.root / "limits-probe/memory.max").read_text().strip() == str(64 << 20)
    finally:
        driver.remove("limits-probe")
    assert not driver.exists("limits-probe")


def test_join_script_enters_every_cgroup_before_exec(tmp_path: Path) -> None:
    files = [tmp_path / "a", tmp_path / "b"]
    result = subprocess.run([*join_script(files), "/bin/echo", "joined"], capture_output=True, text=True, check=True)
    assert result.stdout == "joined\n"
    pids = {path.read_text().strip() for path in files}
    assert len(pids) == 1 and pids.pop().isdigit()

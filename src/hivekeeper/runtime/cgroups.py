"""Memory, CPU and pids limits through cgroups, v2 (most hosts) or v1 (older and hybrid hosts).

Each server gets ``<own cgroup>/hivekeeper/<name>`` in every controller it needs, under the cgroup
the manager itself runs in (read from ``/proc/self/cgroup``), so hivekeeper nests correctly inside a
container, a systemd service or a delegated user slice. A process joins before it executes the
server (see :meth:`CgroupDriver.procs_files`), so nothing it forks can escape the limits.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hivekeeper.errors import UnavailableError
from hivekeeper.runtime.base import Limits

GROUP = "hivekeeper"
CONTROLLERS = ("memory", "cpu", "pids")
CPU_PERIOD_US = 100_000


class CgroupDriver(Protocol):
    version: int

    def create(self, name: str, limits: Limits) -> None:
        """Create the server's cgroup(s) with ``limits``; raises OSError when the hierarchy refuses."""
        ...

    def procs_files(self, name: str) -> list[Path]:
        """Files a process writes its pid to, to join the server's cgroup(s)."""
        ...

    def exists(self, name: str) -> bool: ...

    def remove(self, name: str) -> None:
        """Kill whatever still runs in the server's cgroup(s), then delete them."""
        ...

    def names(self) -> list[str]:
        """Servers that currently have a cgroup (for leak checks and cleanup after a crash)."""
        ...


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _pids_in(group: Path) -> list[int]:
    try:
        return [int(line) for line in (group / "cgroup.procs").read_text().split()]
    except FileNotFoundError:
        return []


def _kill_and_remove(groups: Sequence[Path], kill_file: str | None = None) -> None:
    """SIGKILL every member, wait until the cgroups are empty, then rmdir them."""
    existing = [group for group in groups if group.is_dir()]
    if not existing:
        return
    deadline = time.monotonic() + 5.0
    while True:
        members = {pid for group in existing for pid in _pids_in(group)}
        if not members:
            break
        for group in existing:
            if kill_file and (group / kill_file).exists():
                with contextlib.suppress(OSError):
                    _write(group / kill_file, "1")
        for pid in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise OSError(errno.EBUSY, f"processes {sorted(members)} survive in {existing[0]}")
        time.sleep(0.01)
    for group in existing:
        # An emptied cgroup may briefly report EBUSY while the kernel finishes reaping.
        for _ in range(100):
            try:
                group.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError as exc:
                if exc.errno != errno.EBUSY:
                    raise
                time.sleep(0.01)


@dataclass
class CgroupV2:
    """Unified hierarchy. ``base`` is the manager's own cgroup directory."""

    base: Path
    version: int = 2

    @property
    def root(self) -> Path:
        return self.base / GROUP

    def _enable_controllers(self) -> None:
        wanted = " ".join(f"+{controller}" for controller in CONTROLLERS)
        try:
            _write(self.base / "cgroup.subtree_control", wanted)
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise
            # "No internal processes": a cgroup holding processes cannot delegate controllers, so the
            # manager (and anything sharing its cgroup) moves into a leaf first.
            leaf = self.base / "manager"
            leaf.mkdir(exist_ok=True)
            for pid in _pids_in(self.base):
                with contextlib.suppress(ProcessLookupError):
                    _write(leaf / "cgroup.procs", str(pid))
            _write(self.base / "cgroup.subtree_control", wanted)
        self.root.mkdir(exist_ok=True)
        _write(self.root / "cgroup.subtree_control", wanted)

    def create(self, name: str, limits: Limits) -> None:
        if not (self.root / "cgroup.subtree_control").exists():
            self._enable_controllers()
        group = self.root / name
        group.mkdir()
        try:
            if limits.memory_bytes is not None:
                _write(group / "memory.max", str(limits.memory_bytes))
                _write(group / "memory.swap.max", "0")
            if limits.cpus is not None:
                _write(group / "cpu.max", f"{round(limits.cpus * CPU_PERIOD_US)} {CPU_PERIOD_US}")
            if limits.pids is not None:
                _write(group / "pids.max", str(limits.pids))
        except BaseException:
            self.remove(name)
            raise

    def procs_files(self, name: str) -> list[Path]:
        return [self.root / name / "cgroup.procs"]

    def exists(self, name: str) -> bool:
        return (self.root / name).is_dir()

    def remove(self, name: str) -> None:
        _kill_and_remove([self.root / name], kill_file="cgroup.kill")

    def names(self) -> list[str]:
        return sorted(entry.name for entry in self.root.iterdir() if entry.is_dir()) if self.root.is_dir() else []


@dataclass
class CgroupV1:
    """Legacy hierarchies, one directory per controller: ``{"memory": <own memory cgroup>, ...}``."""

    bases: dict[str, Path]
    version: int = 1

    def _groups(self, name: str) -> list[Path]:
        return [base / GROUP / name for base in dict.fromkeys(self.bases.values())]

    def create(self, name: str, limits: Limits) -> None:
        try:
            for group in self._groups(name):
                group.mkdir(parents=True)
            memory = self.bases["memory"] / GROUP / name
            if limits.memory_bytes is not None:
                _write(memory / "memory.limit_in_bytes", str(limits.memory_bytes))
                # memsw exists only with swap accounting; without it swap cannot be limited anyway.
                if (memory / "memory.memsw.limit_in_bytes").exists():
                    _write(memory / "memory.memsw.limit_in_bytes", str(limits.memory_bytes))
            if limits.cpus is not None:
                cpu = self.bases["cpu"] / GROUP / name
                _write(cpu / "cpu.cfs_period_us", str(CPU_PERIOD_US))
                _write(cpu / "cpu.cfs_quota_us", str(round(limits.cpus * CPU_PERIOD_US)))
            if limits.pids is not None:
                _write(self.bases["pids"] / GROUP / name / "pids.max", str(limits.pids))
        except BaseException:
            self.remove(name)
            raise

    def procs_files(self, name: str) -> list[Path]:
        return [group / "cgroup.procs" for group in self._groups(name)]

    def exists(self, name: str) -> bool:
        return any(group.is_dir() for group in self._groups(name))

    def remove(self, name: str) -> None:
        _kill_and_remove(self._groups(name))

    def names(self) -> list[str]:
        found: set[str] = set()
        for base in self.bases.values():
            root = base / GROUP
            if root.is_dir():
                found.update(entry.name for entry in root.iterdir() if entry.is_dir())
        return sorted(found)


@dataclass(frozen=True)
class _Mount:
    path: Path
    fstype: str
    options: frozenset[str]


def _cgroup_mounts(mountinfo: str) -> list[_Mount]:
    mounts = []
    for line in mountinfo.splitlines():
        before, _, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        mounts.append(_Mount(Path(fields[4]), tail[0], frozenset(tail[2].split(","))))
    return mounts


def _membership(proc_cgroup: str) -> dict[str, str]:
    """``/proc/self/cgroup`` as {controller: path}; the v2 entry is keyed ``""``."""
    paths: dict[str, str] = {}
    for line in proc_cgroup.splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def detect(mountinfo: str, proc_cgroup: str) -> CgroupDriver:
    """Pick v2 when the unified hierarchy has every controller, else v1 (pure: inputs are file texts)."""
    mounts = _cgroup_mounts(mountinfo)
    membership = _membership(proc_cgroup)
    for mount in mounts:
        if mount.fstype == "cgroup2" and "" in membership:
            base = mount.path / membership[""].lstrip("/")
            available = _read_controllers(mount.path)
            if set(CONTROLLERS) <= available:
                return CgroupV2(base)
    bases: dict[str, Path] = {}
    for controller in CONTROLLERS:
        for mount in mounts:
            if mount.fstype == "cgroup" and controller in mount.options and controller in membership:
                bases[controller] = mount.path / membership[controller].lstrip("/")
                break
    missing = [controller for controller in CONTROLLERS if controller not in bases]
    if missing:
        raise UnavailableError(f"cgroup controllers not mounted (v1 or v2): {', '.join(missing)}")
    return CgroupV1(bases)


def _read_controllers(root: Path) -> set[str]:
    try:
        return set((root / "cgroup.controllers").read_text().split())
    except OSError:
        return set()


def detect_host() -> CgroupDriver:
    with open("/proc/self/mountinfo") as mountinfo, open("/proc/self/cgroup") as proc_cgroup:
        return detect(mountinfo.read(), proc_cgroup.read())


def join_script(procs_files: Iterable[Path]) -> list[str]:
    """argv prefix that moves the process into the cgroups, then execs the rest of the argv.

    ``sh`` joins before exec'ing the sandbox, so the server never runs a single instruction outside
    its limits (writing the pid after spawning would race with a fork bomb)."""
    script = 'for f in "$@"; do [ "$f" = -- ] && break; echo $$ > "$f" || exit 125; shift; done; shift; exec "$@"'
    return ["/bin/sh", "-c", script, "hivekeeper-cgroup-join", *(str(path) for path in procs_files), "--"]

"""The ``sandbox`` runtime: bubblewrap + cgroups + a proxy-only network namespace. No container engine.

What a server sees: a read-only ``/usr`` and a handful of ``/etc`` files (certificates, time zone,
loader cache; a generated ``passwd``/``group``/``hosts``; no ``resolv.conf``), a private ``/proc``,
``/dev`` and tmpfs ``/tmp``, and the mounts its spec declares, read-only unless said. It runs as uid
65534 in a user namespace with every capability dropped and no way to create further user namespaces,
in new pid, mount, ipc, uts and network namespaces. The network namespace holds only loopback plus
the egress proxy's listener (see :mod:`hivekeeper.runtime.netns`), or nothing when the server has no
egress at all: bubblewrap creates the namespace and holds the server before exec until the host has
planted and is serving that listener. A shell prelude joins the cgroups before ``bwrap`` runs, so
limits apply from the first instruction.

Root is not needed: bubblewrap then uses an unprivileged user namespace, and everything above holds,
except that cgroups need a hierarchy delegated to the user; without one the server runs unlimited and
:meth:`SandboxRuntime.caveats` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import shutil
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from hivekeeper import paths
from hivekeeper.errors import ConflictError, UnavailableError
from hivekeeper.runtime.base import (
    STREAM_LIMIT,
    UNENFORCED_LIMITS,
    DelegatingProcess,
    LaunchSpec,
    Limits,
    Process,
    check_spec,
)
from hivekeeper.runtime.cgroups import CgroupDriver, detect_host, join_script
from hivekeeper.runtime.egress import EgressPolicy, EgressProxy, proxy_env
from hivekeeper.runtime.netns import PROXY_HOST, PROXY_PORT, plant_listener_in_sandbox

SANDBOX_UID = 65534
SANDBOX_USER = "nobody"
# Read-only bits of the host /etc a well-behaved program needs; nothing with secrets or host identity.
SYSTEM_ETC = (
    "ssl",
    "ca-certificates",
    "ca-certificates.conf",
    "alternatives",
    "ld.so.cache",
    "localtime",
    "mime.types",
    "protocols",
    "services",
)
_TOP_LEVEL = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8"}


class SandboxProcess(DelegatingProcess):
    """The ``bwrap`` process, plus a handle on the sandbox's own init (pid 1 of its pid namespace).

    Killing bwrap alone is not enough: bubblewrap re-arms its die-with-parent signal after switching
    credentials, so a kill landing in that window orphans the sandbox, and its server would live on,
    holding the pipes. Killing the namespace's init takes every process inside with it, whatever the
    timing; a pidfd makes sure the signal cannot reach a recycled pid."""

    def __init__(self, process: Process) -> None:
        super().__init__(process)
        self._init_fd = -1
        self.sandbox_pid = 0

    def hold(self, sandbox_pid: int) -> None:
        self.sandbox_pid = sandbox_pid
        self._init_fd = os.pidfd_open(sandbox_pid)

    async def wait(self) -> int:
        code = await self._process.wait()
        self._release()
        return code

    def kill(self) -> None:
        if self._init_fd >= 0:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._init_fd, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self._process.kill()

    def _release(self) -> None:
        if self._init_fd >= 0:
            os.close(self._init_fd)
            self._init_fd = -1


@dataclass
class _Sandbox:
    process: SandboxProcess
    limited: bool  # whether a cgroup holds it (False: running without root on an undelegated host)


class SandboxRuntime:
    name = "sandbox"

    def __init__(
        self, *, proxy: EgressProxy | None = None, cgroups: CgroupDriver | None = None, state_root: Path | None = None
    ) -> None:
        self.proxy = proxy or EgressProxy()
        self._cgroups = cgroups
        self._state_root = state_root
        self._active: dict[str, _Sandbox] = {}
        self._bwrap = shutil.which("bwrap")

    @property
    def state_root(self) -> Path:
        """Per-server scratch directories (generated /etc files) live here; cleanup removes them."""
        return self._state_root or paths.runtime_dir() / "sandbox"

    @property
    def cgroups(self) -> CgroupDriver:
        if self._cgroups is None:
            self._cgroups = detect_host()
        return self._cgroups

    def unavailable_reason(self) -> str | None:
        if not sys.platform.startswith("linux"):
            return "the sandbox runtime needs Linux namespaces; use --runtime docker or podman"
        if self._bwrap is None:
            return "bubblewrap (bwrap) is not installed: apt-get install bubblewrap"
        if os.geteuid() == 0:
            try:
                self.cgroups  # noqa: B018 - detection raises with the reason
            except UnavailableError as exc:
                return exc.message
        elif not _user_namespaces_allowed():
            return (
                "unprivileged user namespaces are disabled on this host (sysctl user.max_user_namespaces); "
                "run the manager as root, or use --runtime docker or podman"
            )
        return None

    def caveats(self, limits: Limits) -> list[str]:
        if limits == Limits() or os.geteuid() == 0 or self._cgroups_writable:
            return []
        return [
            f"{UNENFORCED_LIMITS}: the sandbox runs without root and this "
            "host does not delegate cgroups to this user (run the manager as root, or under a delegated "
            "cgroup v2 slice, e.g. systemd-run --user -p Delegate=yes)"
        ]

    def leftovers(self, name: str) -> list[str]:
        """What still exists for ``name`` on the host (empty after a clean teardown)."""
        found = []
        if self._cgroup_exists(name):
            found.append(f"cgroup {name}")
        if (self.state_root / name).exists():
            found.append(f"directory {self.state_root / name}")
        if name in self._active:
            found.append(f"tracked sandbox {name}")
        return found

    async def launch(self, spec: LaunchSpec) -> Process:
        check_spec(spec)
        reason = self.unavailable_reason()
        if reason:
            raise UnavailableError(reason)
        if spec.name in self._active:
            raise ConflictError(f"sandbox {spec.name} is already running")
        # A cgroup or directory without a tracked sandbox is debris of a manager that died: replace it.
        if self.leftovers(spec.name):
            await self.cleanup(spec.name)
        gate = _StartGate()
        try:
            limited = self._create_cgroup(spec)
            scratch = self._write_scratch(spec.name)
            env = {**BASE_ENV, **spec.env}
            argv = join_script(self.cgroups.procs_files(spec.name)) if limited else []
            argv += self._bwrap_argv(spec, scratch, gate)
            if spec.egress:
                env.update(proxy_env(f"http://{PROXY_HOST}:{PROXY_PORT}"))
            started = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                limit=STREAM_LIMIT,
                pass_fds=gate.child_fds,
            )
            process = SandboxProcess(started)
            self._active[spec.name] = _Sandbox(process, limited)
            # The server is held before exec: until the host can kill all of it, and until its only way
            # out (if it has one) is being served.
            process.hold(await gate.sandbox_pid(started))
            if spec.egress:
                listener = await asyncio.to_thread(plant_listener_in_sandbox, process.sandbox_pid)
                await self.proxy.serve(spec.name, listener, EgressPolicy.from_rules(spec.egress))
            gate.release()
        except BaseException:
            await self.cleanup(spec.name)
            raise
        finally:
            gate.close()
        return process

    async def cleanup(self, name: str) -> None:
        sandbox = self._active.pop(name, None)
        if sandbox is not None:
            sandbox.process.kill()  # even when bwrap is gone: what it started may not be
            await sandbox.process.wait()
        await self.proxy.stop(name)
        if self._cgroup_exists(name):
            await asyncio.to_thread(self.cgroups.remove, name)
        shutil.rmtree(self.state_root / name, ignore_errors=True)

    def _create_cgroup(self, spec: LaunchSpec) -> bool:
        """Whether the server runs in a cgroup of its own. Without root that needs a delegated hierarchy;
        lacking one, it runs unlimited (``caveats`` says so) rather than not at all."""
        if os.geteuid() != 0 and not self._cgroups_writable:
            return False
        self.cgroups.create(spec.name, spec.limits)
        return True

    @functools.cached_property
    def _cgroups_writable(self) -> bool:
        """Probed once: delegation is set up before a manager starts, not while it runs."""
        probe = f"probe-{os.getpid()}"
        try:
            self.cgroups.create(probe, Limits())
        except (OSError, UnavailableError):
            return False
        self.cgroups.remove(probe)
        return True

    def _cgroup_exists(self, name: str) -> bool:
        try:
            return self.cgroups.exists(name)
        except UnavailableError:
            return False

    def _write_scratch(self, name: str) -> Path:
        scratch = self.state_root / name
        scratch.mkdir(parents=True, mode=0o700)
        (scratch / "passwd").write_text(
            f"root:x:0:0::/:/usr/sbin/nologin\n{SANDBOX_USER}:x:{SANDBOX_UID}:{SANDBOX_UID}::/tmp:/usr/sbin/nologin\n"
        )
        (scratch / "group").write_text(f"root:x:0:\nnogroup:x:{SANDBOX_UID}:\n")
        (scratch / "hosts").write_text(f"127.0.0.1\tlocalhost {name}\n::1\tlocalhost\n")
        return scratch

    def _bwrap_argv(self, spec: LaunchSpec, scratch: Path, gate: _StartGate) -> list[str]:
        assert self._bwrap is not None  # unavailable_reason() said so before any launch
        argv = [
            self._bwrap,
            "--unshare-user",
            "--uid",
            str(SANDBOX_UID),
            "--gid",
            str(SANDBOX_UID),
            "--disable-userns",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--unshare-net",
            "--hostname",
            spec.name,
            "--cap-drop",
            "ALL",
            "--die-with-parent",
            "--new-session",
            "--ro-bind",
            "/usr",
            "/usr",
        ]
        argv += gate.bwrap_options
        for top in _TOP_LEVEL:
            host = Path("/") / top
            if host.is_symlink():
                argv += ["--symlink", os.readlink(host), str(host)]
            elif host.is_dir():
                argv += ["--ro-bind", str(host), str(host)]
        argv += ["--dir", "/etc"]
        for entry in SYSTEM_ETC:
            argv += ["--ro-bind-try", f"/etc/{entry}", f"/etc/{entry}"]
        for generated in ("passwd", "group", "hosts"):
            argv += ["--ro-bind", str(scratch / generated), f"/etc/{generated}"]
        argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        for mount in sorted(spec.mounts, key=lambda m: m.target.count("/")):
            argv += ["--ro-bind" if mount.read_only else "--bind", str(mount.host), mount.target]
        argv += ["--remount-ro", "/", "--chdir", spec.workdir or "/tmp", "--", *spec.command]
        return argv


class _StartGate:
    """bubblewrap's ``--info-fd`` (it reports the sandbox's pid) and ``--block-fd`` (the server waits
    before exec until a byte arrives): the host plants the egress listener between the two."""

    def __init__(self) -> None:
        self._info_read, self._info_write = os.pipe()
        self._block_read, self._block_write = os.pipe()

    @property
    def child_fds(self) -> tuple[int, int]:
        return (self._info_write, self._block_read)

    @property
    def bwrap_options(self) -> list[str]:
        return ["--info-fd", str(self._info_write), "--block-fd", str(self._block_read)]

    async def sandbox_pid(self, process: Process) -> int:
        # Close our copies of the child's ends, so a bwrap that dies early reads as end-of-file.
        for fd in self.child_fds:
            os.close(fd)
        self._info_write = self._block_read = -1
        report = await asyncio.to_thread(_read_all, self._info_read)
        try:
            return int(json.loads(report)["child-pid"])
        except (ValueError, KeyError, TypeError):
            await process.wait()
            stderr = await process.stderr.read() if process.stderr else b""
            detail = stderr.decode(errors="replace").strip() or f"exit status {process.returncode}"
            raise UnavailableError(f"the sandbox did not start: {detail}") from None

    def release(self) -> None:
        os.write(self._block_write, b"1")

    def close(self) -> None:
        for fd in (self._info_read, self._info_write, self._block_read, self._block_write):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._info_read = self._info_write = self._block_read = self._block_write = -1


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    return b"".join(chunks)


def _user_namespaces_allowed() -> bool:
    try:
        return int(Path("/proc/sys/user/max_user_namespaces").read_text()) > 0
    except (OSError, ValueError):
        return True  # not exposed: let bwrap try and report

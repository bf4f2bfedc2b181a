"""The ``sandbox`` runtime: bubblewrap + cgroups + a proxy-only network namespace. No container engine.

What a server sees: a read-only ``/usr`` and a handful of ``/etc`` files (certificates, time zone,
loader cache; a generated ``passwd``/``group``/``hosts``; no ``resolv.conf``), a private ``/proc``,
``/dev`` and tmpfs ``/tmp``, and the mounts its spec declares, read-only unless said. It runs as uid
65534 in a user namespace with every capability dropped and no way to create further user namespaces,
in new pid, mount, ipc, uts and network namespaces. The network namespace holds only loopback plus
the egress proxy's listener (see :mod:`hivekeeper.runtime.netns`), or nothing when the server has no
egress at all. A shell prelude joins the cgroups before ``bwrap`` runs, so limits apply from the first
instruction.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from hivekeeper import paths
from hivekeeper.errors import ConflictError, UnavailableError
from hivekeeper.runtime.base import STREAM_LIMIT, LaunchSpec, Process, check_spec
from hivekeeper.runtime.cgroups import CgroupDriver, detect_host, join_script
from hivekeeper.runtime.egress import EgressPolicy, EgressProxy, proxy_env
from hivekeeper.runtime.netns import PROXY_HOST, PROXY_PORT, IsolatedNetwork, create_isolated_network

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


@dataclass
class _Sandbox:
    process: Process
    network: IsolatedNetwork | None


class SandboxRuntime:
    name = "sandbox"

    def __init__(
        self, *, proxy: EgressProxy | None = None, cgroups: CgroupDriver | None = None, state_root: Path | None = None
    ) -> None:
        self.proxy = proxy or EgressProxy()
        self._cgroups = cgroups
        self._state_root = state_root
        self._active: dict[str, _Sandbox] = {}
        self._tools = {tool: shutil.which(tool) for tool in ("bwrap", "nsenter")}

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
        if self._tools["bwrap"] is None:
            return "bubblewrap (bwrap) is not installed: apt-get install bubblewrap"
        if self._tools["nsenter"] is None:
            return "nsenter is not installed: apt-get install util-linux"
        if os.geteuid() != 0:
            return "the sandbox runtime must run as root (network namespaces and cgroups)"
        try:
            self.cgroups  # noqa: B018 - detection raises with the reason
        except UnavailableError as exc:
            return exc.message
        return None

    def leftovers(self, name: str) -> list[str]:
        """What still exists for ``name`` on the host (empty after a clean teardown)."""
        found = []
        if self.cgroups.exists(name):
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
        network: IsolatedNetwork | None = None
        try:
            self.cgroups.create(spec.name, spec.limits)
            scratch = self._write_scratch(spec.name)
            env = {**BASE_ENV, **spec.env}
            argv = join_script(self.cgroups.procs_files(spec.name))
            if spec.egress:
                network = create_isolated_network()
                await self.proxy.serve(spec.name, network.listener, EgressPolicy.from_rules(spec.egress))
                env.update(proxy_env(f"http://{PROXY_HOST}:{PROXY_PORT}"))
                argv += [self._tool("nsenter"), f"--net={network.namespace_path}", "--"]
            argv += self._bwrap_argv(spec, scratch, own_network=network is None)
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                limit=STREAM_LIMIT,
            )
        except BaseException:
            if network is not None:
                await self.proxy.stop(spec.name)
                network.close()
            await self.cleanup(spec.name)
            raise
        self._active[spec.name] = _Sandbox(process, network)
        return process

    async def cleanup(self, name: str) -> None:
        sandbox = self._active.pop(name, None)
        if sandbox is not None:
            if sandbox.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    sandbox.process.kill()
                await sandbox.process.wait()
            await self.proxy.stop(name)
            if sandbox.network is not None:
                sandbox.network.close()
        await asyncio.to_thread(self.cgroups.remove, name)
        shutil.rmtree(self.state_root / name, ignore_errors=True)

    def _tool(self, tool: str) -> str:
        path = self._tools[tool]
        if path is None:
            raise UnavailableError(f"{tool} is not installed")
        return path

    def _write_scratch(self, name: str) -> Path:
        scratch = self.state_root / name
        scratch.mkdir(parents=True, mode=0o700)
        (scratch / "passwd").write_text(
            f"root:x:0:0::/:/usr/sbin/nologin\n{SANDBOX_USER}:x:{SANDBOX_UID}:{SANDBOX_UID}::/tmp:/usr/sbin/nologin\n"
        )
        (scratch / "group").write_text(f"root:x:0:\nnogroup:x:{SANDBOX_UID}:\n")
        (scratch / "hosts").write_text(f"127.0.0.1\tlocalhost {name}\n::1\tlocalhost\n")
        return scratch

    def _bwrap_argv(self, spec: LaunchSpec, scratch: Path, *, own_network: bool) -> list[str]:
        argv = [
            self._tool("bwrap"),
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
        if own_network:
            argv.append("--unshare-net")
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

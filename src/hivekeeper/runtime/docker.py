"""The ``docker`` runtime: one container per server through the engine API (docker SDK 7.x).

Containers run with a read-only root, a private tmpfs ``/tmp``, every capability dropped,
``no-new-privileges``, uid 65534, memory (swap included), CPU and pids limits, and
``--network none``. Egress works as in the sandbox runtime: after the container starts, the host
plants the egress proxy's listener on ``127.0.0.1:3128`` inside the container's own network namespace
(via ``/proc/<pid>/ns/net``), so the container gets a loopback-only proxy and no route anywhere, with
no sidecar, bridge, veth or firewall rule. The listener appears within milliseconds of the start,
long before an interpreted server has finished importing; a server that connects in its very first
instant sees "connection refused" and should retry like any client behind a proxy.

stdio is the container's attach stream (stdin, and stdout/stderr demultiplexed from Docker's frame
format), exposed as a :class:`~hivekeeper.runtime.base.Process`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import struct
from dataclasses import dataclass
from typing import Any

from hivekeeper.errors import ConfigError, ConflictError, UnavailableError
from hivekeeper.runtime.base import STREAM_LIMIT, LaunchSpec, Limits, Process, check_spec
from hivekeeper.runtime.egress import EgressPolicy, EgressProxy, proxy_env
from hivekeeper.runtime.netns import PROXY_HOST, PROXY_PORT, plant_listener
from hivekeeper.runtime.sandbox import SANDBOX_UID

logger = logging.getLogger(__name__)

LABEL = "io.hivekeeper.server"
CONTAINER_PREFIX = "hivekeeper-"
TMPFS_OPTIONS = "rw,nosuid,nodev,size=64m,mode=1777"
_FRAME_HEADER = struct.Struct(">BxxxL")


class ContainerProcess:
    """A running container seen as a process: stdin/stdout/stderr are its attach stream."""

    def __init__(self, container: Any, connection: socket.socket) -> None:
        self._container = container
        self._connection = connection
        self._pid = int(container.attrs["State"]["Pid"])
        self._returncode: int | None = None
        self.stdout = asyncio.StreamReader(limit=STREAM_LIMIT)
        self.stderr = asyncio.StreamReader(limit=STREAM_LIMIT)
        self.stdin: asyncio.StreamWriter | None = None
        self._tasks: list[asyncio.Task[Any]] = []

    async def _start(self) -> None:
        reader, self.stdin = await asyncio.open_connection(sock=self._connection, limit=STREAM_LIMIT)
        self._tasks = [asyncio.create_task(self._demultiplex(reader)), asyncio.create_task(self._await_exit())]

    async def _demultiplex(self, reader: asyncio.StreamReader) -> None:
        streams = {1: self.stdout, 2: self.stderr}
        try:
            while True:
                kind, size = _FRAME_HEADER.unpack(await reader.readexactly(_FRAME_HEADER.size))
                payload = await reader.readexactly(size)
                target = streams.get(kind)
                if target is not None:
                    target.feed_data(payload)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.stdout.feed_eof()
            self.stderr.feed_eof()

    async def _await_exit(self) -> int:
        result = await asyncio.to_thread(self._container.wait)
        self._returncode = int(result.get("StatusCode", -1))
        return self._returncode

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def returncode(self) -> int | None:
        return self._returncode

    async def wait(self) -> int:
        return int(await asyncio.shield(self._tasks[1]))

    def _signal(self, signum: signal.Signals) -> None:
        if self._returncode is not None:
            return

        def send() -> None:
            try:
                self._container.kill(signal=signum.name)
            except Exception as exc:  # the container may have exited in between: nothing to signal
                logger.debug("signal %s to %s: %s", signum.name, self._container.name, exc)

        asyncio.get_running_loop().run_in_executor(None, send)

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    async def aclose(self) -> None:
        for task in self._tasks[:1]:
            task.cancel()
        if self.stdin is not None:
            self.stdin.close()


@dataclass
class _Tracked:
    process: ContainerProcess
    listener: socket.socket | None


class DockerRuntime:
    name = "docker"
    engine = "Docker"

    def __init__(self, *, base_url: str | None = None, proxy: EgressProxy | None = None) -> None:
        self.base_url = base_url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        self.proxy = proxy or EgressProxy()
        self._client: Any = None
        self._active: dict[str, _Tracked] = {}

    @property
    def client(self) -> Any:
        if self._client is None:
            import docker  # imported late: a manager running only sandboxes never pays for it

            self._client = docker.DockerClient(base_url=self.base_url, timeout=60)
        return self._client

    def unavailable_reason(self) -> str | None:
        try:
            self.client.ping()
        except ImportError:
            return "the docker Python SDK is not installed (pip install docker)"
        except Exception as exc:
            return f"{self.engine} engine not reachable at {self.base_url}: {type(exc).__name__}"
        return None

    def container_name(self, name: str) -> str:
        return CONTAINER_PREFIX + name

    def leftovers(self, name: str) -> list[str]:
        found = [f"container {c.name}" for c in self._containers(name)]
        if name in self._active:
            found.append(f"tracked container {name}")
        return found

    def _containers(self, name: str) -> list[Any]:
        return list(self.client.containers.list(all=True, filters={"label": f"{LABEL}={name}"}))

    def _create_options(self, spec: LaunchSpec) -> dict[str, Any]:
        from docker.types import Mount as DockerMount

        # The image's own PATH and locale stay; only the writable places are pointed at /tmp.
        env = {"HOME": "/tmp", "TMPDIR": "/tmp", **spec.env}
        if spec.egress:
            env.update(proxy_env(f"http://{PROXY_HOST}:{PROXY_PORT}"))
        limits = spec.limits
        options: dict[str, Any] = {
            "image": spec.image,
            "command": list(spec.command) or None,
            "name": self.container_name(spec.name),
            "hostname": spec.name,
            "labels": {LABEL: spec.name},
            "stdin_open": True,
            "tty": False,
            "user": f"{SANDBOX_UID}:{SANDBOX_UID}",
            "read_only": True,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "network_mode": "none",
            "tmpfs": {"/tmp": TMPFS_OPTIONS},
            "environment": env,
            "working_dir": spec.workdir or "/tmp",
            "mounts": [
                DockerMount(target=m.target, source=str(m.host), type="bind", read_only=m.read_only)
                for m in spec.mounts
            ],
        }
        if limits.memory_bytes is not None:
            options["mem_limit"] = limits.memory_bytes
            options["memswap_limit"] = limits.memory_bytes  # equal: no swap on top
        if limits.cpus is not None:
            options["nano_cpus"] = round(limits.cpus * 1e9)
        if limits.pids is not None:
            options["pids_limit"] = limits.pids
        return options

    def caveats(self, limits: Limits) -> list[str]:
        return []  # the engine enforces every limit, or refuses to create the container

    async def launch(self, spec: LaunchSpec) -> Process:
        check_spec(spec)
        if not spec.image:
            raise ConfigError(f"server {spec.name}: the {self.name} runtime needs an image")
        reason = await asyncio.to_thread(self.unavailable_reason)
        if reason:
            raise UnavailableError(reason)
        if spec.name in self._active:
            raise ConflictError(f"container for {spec.name} is already running")
        await self.cleanup(spec.name)
        listener: socket.socket | None = None
        try:
            container, connection = await asyncio.to_thread(self._create_and_start, spec)
            process = ContainerProcess(container, connection)
            await process._start()
            if spec.egress:
                listener = await asyncio.to_thread(plant_listener, f"/proc/{process.pid}/ns/net")
                await self.proxy.serve(spec.name, listener, EgressPolicy.from_rules(spec.egress))
        except BaseException as exc:
            if listener is not None:
                listener.close()
            await self.cleanup(spec.name)
            if _is_image_missing(exc):
                raise ConfigError(f"server {spec.name}: image {spec.image!r} not found in the engine") from None
            raise
        self._active[spec.name] = _Tracked(process, listener)
        return process

    def _create_and_start(self, spec: LaunchSpec) -> tuple[Any, socket.socket]:
        container = self.client.containers.create(**self._create_options(spec))
        # Attach before start, so not a byte of output is missed.
        attached = container.attach_socket(params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        raw = getattr(attached, "_sock", attached)
        connection = socket.socket(fileno=os.dup(raw.fileno()))
        attached.close()
        try:
            container.start()
            container.reload()
        except BaseException:
            connection.close()
            raise
        connection.setblocking(False)
        return container, connection

    async def cleanup(self, name: str) -> None:
        tracked = self._active.pop(name, None)
        await self.proxy.stop(name)
        if tracked is not None:
            await tracked.process.aclose()
            if tracked.listener is not None:
                tracked.listener.close()
        await asyncio.to_thread(self._remove_containers, name)

    def _remove_containers(self, name: str) -> None:
        from docker.errors import NotFound

        for container in self._containers(name):
            with contextlib.suppress(NotFound):  # removed concurrently (e.g. an auto-remove): already gone
                container.remove(force=True)


def _is_image_missing(exc: BaseException) -> bool:
    try:
        from docker.errors import ImageNotFound
    except ImportError:
        return False
    return isinstance(exc, ImageNotFound)

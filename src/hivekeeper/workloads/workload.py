"""One workload in the manager: its HTTP front on its own port, its pool of server instances, restarts
with backoff and a give-up into ``error``, and idle-stop with wake-up on the next request.

Each instance is a bridge ``StdioBackend`` whose launcher asks the workload's runtime for a process, so
the bridge does the protocol and its own restart backoff, while this module decides when to give up
(a crash loop), what the instance may see (the ``LaunchSpec``) and when it should not run at all (idle).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from hivekeeper.errors import ConflictError, HivekeeperError, ReadyTimeoutError
from hivekeeper.runtime.base import (
    OPEN_EGRESS,
    DelegatingProcess,
    EgressRule,
    LaunchSpec,
    Limits,
    Mount,
    Process,
    Runtime,
)
from hivekeeper.runtime.mounts import interpreter_mounts
from hivekeeper.transport.backend import Backend, Exchange
from hivekeeper.transport.bridge import BridgeHandler
from hivekeeper.transport.front import McpFront, Session
from hivekeeper.transport.jsonrpc import CONNECTION_CLOSED, Message, error_body
from hivekeeper.transport.remote import HttpBackend
from hivekeeper.transport.stdio import StdioBackend
from hivekeeper.workloads.logs import WorkloadLog
from hivekeeper.workloads.state import StateStore, Status, WorkloadRecord, sandbox_name

logger = logging.getLogger(__name__)

READY_TIMEOUT = 120.0  # first start of a package may compile or download; later starts are fast


@dataclass(frozen=True)
class RestartPolicy:
    max_restarts: int = 5
    """Consecutive crashes of one instance before the workload gives up into ``error``."""
    stable_after: float = 30.0
    """An instance that stayed up this long starts counting crashes from zero again."""


@dataclass(frozen=True)
class Launchable:
    """Everything needed to start one instance, resolved once per start (secrets included, never stored)."""

    command: Sequence[str]
    env: dict[str, str]
    mounts: Sequence[Mount]
    egress: Sequence[EgressRule] | None
    limits: Limits
    image: str | None = None
    url: str | None = None  # a remote server: proxied, no process
    secret_values: tuple[str, ...] = ()  # redacted from logs and errors


class _WatchedProcess(DelegatingProcess):
    """A runtime's process that reports its exit (code and uptime) to the instance, once."""

    def __init__(self, process: Process, on_exit: Callable[[int, float], None]) -> None:
        super().__init__(process)
        self._on_exit = on_exit
        self._started = time.monotonic()
        self._reported = False

    async def wait(self) -> int:
        code = await self._process.wait()
        if not self._reported:
            self._reported = True
            self._on_exit(code, time.monotonic() - self._started)
        return code


class _Instance:
    def __init__(self, workload: Workload, index: int) -> None:
        self.workload = workload
        self.sandbox_name = sandbox_name(workload.name, index)
        self.index = index
        self.crashes = 0
        self.in_flight = 0
        self.closing = False
        name = f"{workload.name}#{index}"
        url = workload.launchable.url if workload.launchable else None
        self.backend: Backend = (
            HttpBackend(url, name=name)
            if url
            else StdioBackend(self._launch, name=name, stderr_sink=workload.log_stderr)
        )
        self.bridge = BridgeHandler(self.backend)

    async def _launch(self) -> Process:
        workload = self.workload
        launchable = workload.launchable
        if launchable is None or self.closing:
            raise RuntimeError("the workload is stopping")
        await workload.runtime.cleanup(self.sandbox_name)  # what a previous run of this instance left
        spec = LaunchSpec(
            name=self.sandbox_name,
            command=launchable.command,
            env=launchable.env,
            mounts=launchable.mounts,
            egress=launchable.egress,
            limits=launchable.limits,
            workdir=workload.record.spec.workdir,
            image=launchable.image,
        )
        return _WatchedProcess(await workload.runtime.launch(spec), self._exited)

    def _exited(self, returncode: int, uptime: float) -> None:
        if not self.closing:
            self.workload.instance_crashed(self, returncode, uptime)

    async def aclose(self) -> None:
        self.closing = True
        await self.backend.aclose()
        if isinstance(self.backend, StdioBackend):
            await self.workload.runtime.cleanup(self.sandbox_name)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn sharing the manager's event loop with many siblings: the manager owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


class _PoolHandler:
    """The front's handler: each request goes to the least busy ready instance, waking the pool if idle."""

    def __init__(self, workload: Workload) -> None:
        self.workload = workload

    async def handle(self, session: Session, message: Message, exchange: Exchange) -> Message:
        try:
            instance = await self.workload.acquire()
        except HivekeeperError as exc:
            return error_body(CONNECTION_CLOSED, exc.message)
        instance.in_flight += 1
        try:
            return await instance.bridge.handle(session, message, exchange)
        finally:
            instance.in_flight -= 1
            self.workload.last_activity = time.monotonic()

    async def notification(self, session: Session, message: Message) -> None:
        for instance in self.workload.ready_instances():
            await instance.bridge.notification(session, message)

    async def session_closed(self, session: Session) -> None:
        """Sessions are the front's; instances are shared by all of them."""


class Workload:
    def __init__(
        self,
        record: WorkloadRecord,
        *,
        runtime: Runtime,
        store: StateStore,
        log: WorkloadLog,
        policy: RestartPolicy,
        on_change: Callable[[], None],
    ) -> None:
        self.record = record
        self.runtime = runtime
        self.store = store
        self.log = log
        self.policy = policy
        self.launchable: Launchable | None = None
        self.instances: list[_Instance] = []
        self.last_activity = time.monotonic()
        self._on_change = on_change
        self._front = McpFront(_PoolHandler(self))
        self._server: _EmbeddedServer | None = None
        self._serving: asyncio.Task[None] | None = None
        self._idle_watch: asyncio.Task[None] | None = None
        self._transition = asyncio.Lock()
        self._last_stderr = ""
        self._background: set[asyncio.Task[None]] = set()

    @property
    def name(self) -> str:
        return self.record.spec.name

    # ---- lifecycle ----------------------------------------------------------------------------------------

    async def start(self, launchable: Launchable) -> None:
        """Listen on the port, start the pool and wait until every instance answers ``tools/list``.

        On failure everything started here is stopped again and the error propagates.
        """
        async with self._transition:
            self.launchable = launchable
            self.log.set_secrets(launchable.secret_values)
            try:
                await self._listen()
                await self._start_instances()
            except BaseException:
                await self._stop_instances()
                await self._stop_listening()
                raise
            self._set_status("running", started=True)
            self._arm_idle_watch()

    async def stop(self) -> None:
        async with self._transition:
            await self._stop_instances()
            await self._stop_listening()
            self.launchable = None
            self._set_status("stopped")

    def ready_instances(self) -> list[_Instance]:
        return [instance for instance in self.instances if instance.backend.ready]

    async def acquire(self) -> _Instance:
        """A ready instance for one request; never waits for a cold start while one is ready."""
        self.last_activity = time.monotonic()
        ready = self.ready_instances()
        if not ready:
            if self.record.status == "idle":
                await self._wake()
            ready = self.ready_instances() or await self._first_ready()
        return min(ready, key=lambda instance: instance.in_flight)

    def log_stderr(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace").rstrip()
        if text:
            self._last_stderr = text
            self.log.write(text)

    def instance_crashed(self, instance: _Instance, returncode: int, uptime: float) -> None:
        instance.crashes = 0 if uptime >= self.policy.stable_after else instance.crashes + 1
        self.record.restarts += 1
        cause = f"instance {instance.index} exited with code {returncode} after {uptime:.1f} s"
        if self._last_stderr:
            cause += f" (last stderr: {self._last_stderr[-200:]})"
        self.record.last_error = self.log.redact(cause)
        if instance.crashes > self.policy.max_restarts:
            self.log.write(
                f"{self.record.last_error}; crashed {instance.crashes} times in a row, giving up", origin="manager"
            )
            self._spawn(self._retire(instance))
        else:
            self.log.write(f"{self.record.last_error}; restarting with backoff", origin="manager")
            self._save()

    async def _retire(self, instance: _Instance) -> None:
        """Give up on a crash-looping instance; the workload is in ``error`` once none is left."""
        async with self._transition:
            if instance not in self.instances:
                return
            self.instances.remove(instance)
            await instance.aclose()
            if self.instances:
                self._save()  # the rest of the pool keeps serving; last_error says what happened
            else:
                self._set_status("error")

    # ---- pieces -------------------------------------------------------------------------------------------

    async def _listen(self) -> None:
        if self._serving is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", self.record.port))
        except OSError as exc:
            sock.close()
            raise ConflictError(f"port {self.record.port} is in use ({exc.strerror})") from None
        self.record.port = sock.getsockname()[1]
        # The bare front (no router per request), as ``hivekeeper proxy`` serves it.
        config = uvicorn.Config(
            self._front,
            log_level="warning",
            access_log=False,
            lifespan="on",
            http="httptools",
            proxy_headers=False,
            server_header=False,
            date_header=False,
            timeout_graceful_shutdown=1,
        )
        self._server = _EmbeddedServer(config)
        self._serving = asyncio.get_running_loop().create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._serving.done():
                self._serving.result()
                raise ConflictError(f"port {self.record.port}: the HTTP server did not start")
            await asyncio.sleep(0.005)

    async def _stop_listening(self) -> None:
        if self._idle_watch is not None:
            self._idle_watch.cancel()
            self._idle_watch = None
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await self._serving
        self._server = self._serving = None

    async def _start_instances(self) -> None:
        self.instances = [_Instance(self, index) for index in range(self.record.spec.pool)]
        for instance in self.instances:
            instance.bridge.attach(self._front)
        await asyncio.gather(*(self._bring_up(instance) for instance in self.instances))

    async def _bring_up(self, instance: _Instance) -> None:
        try:
            await asyncio.wait_for(instance.backend.start(), READY_TIMEOUT)
        except TimeoutError:
            raise ReadyTimeoutError(f"{self.name}: not ready after {READY_TIMEOUT:g} s") from None
        except Exception as exc:
            raise HivekeeperError(self.log.redact(f"{self.name}: {exc}")) from None
        answer = await instance.backend.call("tools/list", {})
        if "result" not in answer:
            reason = (answer.get("error") or {}).get("message", "no result")
            raise HivekeeperError(self.log.redact(f"{self.name}: tools/list failed: {reason}"))

    async def _stop_instances(self) -> None:
        instances, self.instances = self.instances, []
        await asyncio.gather(*(instance.aclose() for instance in instances), return_exceptions=True)

    async def _wake(self) -> None:
        async with self._transition:
            if self.record.status != "idle" or self.launchable is None:
                return
            self._set_status("starting")
            self.log.write("request while idle; starting", origin="manager")
            self.instances = [_Instance(self, index) for index in range(self.record.spec.pool)]
            for instance in self.instances:
                instance.bridge.attach(self._front)
                # Instances come up in the background; the request takes the first ready one.
                self._spawn(self._start_quietly(instance))
        await self._first_ready()
        self._set_status("running", started=True)

    async def _start_quietly(self, instance: _Instance) -> None:
        with contextlib.suppress(Exception):
            await instance.backend.start()

    async def _first_ready(self) -> list[_Instance]:
        if not self.instances:
            reason = f": {self.record.last_error}" if self.record.last_error else ""
            raise HivekeeperError(f"{self.name} is not running ({self.record.status}{reason})")
        waits = [asyncio.ensure_future(i.backend.wait_ready(READY_TIMEOUT)) for i in self.instances]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        ready = self.ready_instances()
        if not ready:
            raise ReadyTimeoutError(f"{self.name}: no instance ready ({self.instances[0].backend.down_reason})")
        return ready

    def _arm_idle_watch(self) -> None:
        idle_after = self.record.spec.idle_stop_seconds()
        if idle_after is not None and self._idle_watch is None:
            self._idle_watch = asyncio.get_running_loop().create_task(self._watch_idle(idle_after))

    async def _watch_idle(self, idle_after: float) -> None:
        while True:
            await asyncio.sleep(min(idle_after / 4, 5.0))
            busy = any(instance.in_flight for instance in self.instances)
            if self.record.status == "running" and not busy and time.monotonic() - self.last_activity >= idle_after:
                async with self._transition:
                    self.log.write(f"idle for {idle_after:g} s; stopping until the next request", origin="manager")
                    await self._stop_instances()
                    self._set_status("idle")

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _set_status(self, status: Status, *, started: bool = False) -> None:
        self.record.status = status
        if started:
            self.record.started_at = time.time()
        self._save()
        self._on_change()

    def _save(self) -> None:
        self.store.save(self.record)


def python_mounts(command: Sequence[str]) -> list[Mount]:
    """A local command run by a Python outside /usr (pyenv, a venv) needs that interpreter visible."""
    executable = Path(command[0]) if command else None
    if executable is not None and executable.name.startswith("python") and executable.is_absolute():
        return interpreter_mounts(executable)
    return []


def egress_for(
    allow_hosts: Sequence[EgressRule], profile_egress: Sequence[EgressRule] | None
) -> Sequence[EgressRule] | None:
    """``--allow-host`` rules add to the profile's; no rules at all means no network."""
    rules = [*(profile_egress or ()), *allow_hosts]
    if any(rule in OPEN_EGRESS for rule in rules):
        return OPEN_EGRESS
    return rules or None

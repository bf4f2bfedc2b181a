"""``StdioBackend``: an MCP server process speaking newline-delimited JSON-RPC on stdin/stdout.

The process comes from a *launcher*, an async callable returning a ``hivekeeper.runtime.base.Process``, so the
sandbox and container runtimes plug in without this module knowing them; ``command_launcher`` is the plain
``asyncio.create_subprocess_exec`` one. A process that exits answers every pending call with an error naming
the exit code or signal and its last stderr line, and is started again with exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Final

from hivekeeper.runtime.base import Process
from hivekeeper.transport.backend import Backend, BackendUnavailable, Era, _Call
from hivekeeper.transport.jsonrpc import Message, dumps, loads

logger = logging.getLogger(__name__)

Launcher = Callable[[], Awaitable[Process]]

LINE_LIMIT: Final = 64 * 1024 * 1024
"""Longest stdout line accepted from a server (a tool result with a large image is one line)."""
WRITE_HIGH_WATER: Final = 1024 * 1024
BACKOFF_FIRST: Final = 0.25
BACKOFF_MAX: Final = 30.0
STABLE_AFTER: Final = 30.0
"""A process that stayed up this long resets the backoff."""
STOP_GRACE: Final = 3.0


def command_launcher(
    command: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: str | None = None
) -> Launcher:
    """A launcher that runs ``command`` directly (no sandbox), inheriting the environment plus ``env``."""
    if not command:
        raise ValueError("command is empty")

    async def launch() -> Process:
        return await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **env} if env else None,
            cwd=cwd,
            limit=LINE_LIMIT,
        )

    return launch


class StdioBackend(Backend):
    """One MCP server process, restarted when it dies. ``stderr_sink`` receives its stderr lines."""

    def __init__(
        self,
        launcher: Launcher,
        *,
        name: str = "stdio",
        timeout: float = 60.0,
        era: Era = "auto",
        stderr_sink: Callable[[bytes], None] | None = None,
        restart: bool = True,
        on_exit: Callable[[int | None, str], None] | None = None,
    ) -> None:
        """``restart=False`` leaves restarting to the caller (a workload manager with its own policy): after an
        exit every call is answered with the cause at once. ``on_exit(returncode, cause)`` hears of every exit
        (``returncode`` None when the process could not start)."""
        super().__init__(name=name, timeout=timeout, era=era)
        self._restart = restart
        self._on_exit = on_exit
        self._launcher = launcher
        self._stderr_sink = stderr_sink if stderr_sink is not None else _to_our_stderr
        self._process: Process | None = None
        self._stdin: asyncio.StreamWriter | None = None
        self._outbox: list[bytes] = []
        self._supervisor: asyncio.Task[None] | None = None
        self._first_outcome: asyncio.Future[None] | None = None
        self._last_stderr = ""
        self._closing = False
        self.restarts = 0
        self.launched = asyncio.Event()
        """Set once a process is running (its handshake may still be under way)."""

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def start(self) -> None:
        if self._supervisor is not None:
            return
        self._first_outcome = asyncio.get_running_loop().create_future()
        self._supervisor = asyncio.create_task(self._supervise(), name=f"backend {self.name}")
        await self._first_outcome

    async def aclose(self) -> None:
        self._closing = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        await self._stop_process()
        self._connection_lost("stopped", final=True)
        await self._cancel_background()

    async def _send(self, message: Message, call: _Call | None) -> None:
        stdin = self._stdin
        if stdin is None or stdin.is_closing():
            raise ConnectionError(self._down_reason)
        # Lines queued in one loop iteration go out in one write: under load that saves a syscall (and a wakeup
        # of the server) per message.
        if not self._outbox:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outbox.append(dumps(message))
        if stdin.transport.get_write_buffer_size() > WRITE_HIGH_WATER:
            await stdin.drain()

    def _flush(self) -> None:
        lines, self._outbox = self._outbox, []
        stdin = self._stdin
        if stdin is not None and not stdin.is_closing():
            lines.append(b"")
            stdin.write(b"\n".join(lines))

    async def _supervise(self) -> None:
        backoff = BACKOFF_FIRST
        while not self._closing:
            started = time.monotonic()
            cause = await self._run_once()
            if self._closing:
                return
            self._connection_lost(cause.message, cause.data, final=not self._restart)
            if self._on_exit is not None:
                try:
                    self._on_exit(cause.returncode, cause.message)
                except Exception:
                    logger.exception("on_exit callback of backend %s failed", self.name)
            if self._first_outcome is not None and not self._first_outcome.done():
                # Never came up: start() reports it, and nothing runs on in the background.
                self._first_outcome.set_exception(BackendUnavailable(f"backend {self.name} {cause.message}"))
                self._gone = True
                return
            if not self._restart:
                return
            if time.monotonic() - started > STABLE_AFTER:
                backoff = BACKOFF_FIRST
            logger.warning("backend %s %s; restarting in %.2f s", self.name, cause.message, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)
            self.restarts += 1

    async def _run_once(self) -> _Exit:
        """Start the process, handshake, serve until it exits; return why it ended."""
        self._last_stderr = ""
        try:
            process = await self._launcher()
        except Exception as exc:
            return _Exit(f"could not start: {exc}", {"error": str(exc)})
        if process.stdin is None or process.stdout is None:
            await self._stop(process)
            return _Exit("could not start: the launcher gave no stdin/stdout pipes", None)
        self._process, self._stdin = process, process.stdin
        self.launched.set()
        reader = asyncio.create_task(self._read_stdout(process.stdout))
        stderr = asyncio.create_task(self._read_stderr(process.stderr)) if process.stderr else None
        try:
            handshake = asyncio.create_task(self._handshake())
            done, _ = await asyncio.wait({handshake, reader}, return_when=asyncio.FIRST_COMPLETED)
            if handshake in done and handshake.exception() is None:
                if self._first_outcome is not None and not self._first_outcome.done():
                    self._first_outcome.set_result(None)
                await reader
            elif handshake in done:
                failure = handshake.exception()
                await self._stop(process)
                return _Exit(f"failed its handshake: {failure}", None, process.returncode)
            else:
                handshake.cancel()
            returncode = await process.wait()
            if stderr is not None:
                # The last stderr line usually says why it died; give the pipe a moment to drain.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(stderr), 0.5)
            return _exit_cause(returncode, self._last_stderr)
        finally:
            self._stdin = None
            for task in (reader, stderr):
                if task is not None and not task.done():
                    task.cancel()

    async def _read_stdout(self, stdout: asyncio.StreamReader) -> None:
        while True:
            try:
                line = await stdout.readuntil(b"\n")
            except asyncio.IncompleteReadError as eof:
                if eof.partial.strip():
                    await self._dispatch_line(eof.partial)
                return
            except asyncio.LimitOverrunError:
                logger.error("backend %s wrote a line over %d bytes; dropped", self.name, LINE_LIMIT)
                await _skip_line(stdout)
                continue
            except (ConnectionError, ValueError):
                return
            if len(line) > 1:
                await self._dispatch_line(line)

    async def _dispatch_line(self, line: bytes) -> None:
        try:
            message = loads(line)
        except ValueError:
            logger.warning("backend %s wrote a non-JSON line: %.200r", self.name, line)
            return
        if isinstance(message, dict):
            await self._receive(message)

    async def _read_stderr(self, stderr: asyncio.StreamReader) -> None:
        while line := await stderr.readline():
            if stripped := line.strip():
                self._last_stderr = stripped.decode("utf-8", "replace")[-500:]
            self._stderr_sink(line)

    async def _stop_process(self) -> None:
        if self._process is not None:
            await self._stop(self._process)
            self._process = None

    @staticmethod
    async def _stop(process: Process) -> None:
        if process.returncode is not None:
            return
        if process.stdin is not None:
            process.stdin.close()
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), STOP_GRACE)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


class _Exit:
    def __init__(self, message: str, data: Message | None, returncode: int | None = None) -> None:
        self.message = message
        self.data = data
        self.returncode = returncode


def _exit_cause(returncode: int, last_stderr: str) -> _Exit:
    if returncode < 0:
        try:
            what = f"was killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            what = f"was killed by signal {-returncode}"
    else:
        what = f"exited with code {returncode}"
    data: Message = {"exitCode": returncode}
    if last_stderr:
        data["stderr"] = last_stderr
        what += f" (last stderr: {last_stderr})"
    return _Exit(what, data, returncode)


async def _skip_line(stream: asyncio.StreamReader) -> None:
    while True:
        try:
            await stream.readuntil(b"\n")
            return
        except asyncio.LimitOverrunError as over:
            await stream.readexactly(over.consumed)


def _to_our_stderr(line: bytes) -> None:
    sys.stderr.buffer.write(line)
    sys.stderr.buffer.flush()


__all__ = ["Launcher", "StdioBackend", "command_launcher"]

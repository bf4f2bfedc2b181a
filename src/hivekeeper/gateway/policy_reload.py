"""Reloading the gateway's Cedar policy file while it serves, so a policy edit needs no restart (which
would drop every session).

The file is looked at every ``reload_interval`` seconds (a ``stat``: cheap) and read when it changed, or at
once on SIGHUP. A new version goes into force only whole and only once it parsed: a malformed, missing or
unreadable file leaves the last good policy deciding, and the error (naming the file and line) is logged,
counted and shown in the gateway's status until a later reload succeeds. A file that changes while it is
being read is not taken: the next look reads it again, whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from hivekeeper.errors import ConfigError
from hivekeeper.gateway.telemetry import Metrics
from hivekeeper.policy.cedar import CedarPolicy

logger = logging.getLogger(__name__)

Signature = tuple[int, int, int]


def file_signature(path: Path) -> Signature | None:
    """What changes when the file is edited: its inode when an editor renames a new file over it, its mtime
    and size when it is written in place. None while there is no file to read."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


class PolicyReloader:
    """Keeps the newest good version of a policy file, handing each new one to ``apply``."""

    def __init__(
        self,
        path: Path,
        *,
        apply: Callable[[CedarPolicy], Awaitable[None]],
        interval: float = 1.0,
        metrics: Metrics | None = None,
    ) -> None:
        """Reads the file now: a malformed one refuses the start, naming its line."""
        self.path = path
        self.interval = interval
        self._apply = apply
        self._metrics = metrics
        if metrics is not None:  # both series from the start, so an alert on errors needs no first failure
            for result in ("ok", "error"):
                metrics.policy_reloads.labels(result)
        self._seen = file_signature(path)  # before reading: an edit racing the first read is seen at the next look
        self.policy = CedarPolicy.load(path)
        self.error: str | None = None
        """Why the last reload failed; None once one succeeds."""
        self._lock = asyncio.Lock()  # a SIGHUP and a look at the file must not reload side by side
        self._tasks: set[asyncio.Task[None]] = set()
        self._handles_sighup = False

    async def start(self, *, on_sighup: bool = False) -> None:
        """Look at the file every ``interval`` seconds from now on; with ``on_sighup``, also reload on SIGHUP.
        A signal handler is the process's: only a process serving this one gateway should ask for it."""
        self._spawn(self._watch())
        if on_sighup:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, lambda: self._spawn(self._reload_logged()))
            self._handles_sighup = True

    async def aclose(self) -> None:
        if self._handles_sighup:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            self._handles_sighup = False
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def reload(self) -> None:
        """Read and parse the file; put it in force if it parsed and differs from the policy in force."""
        async with self._lock:
            before = file_signature(self.path)
            outcome = await asyncio.to_thread(_read, self.path)
            if file_signature(self.path) != before:
                return  # written while read: the next look finds it changed and reads it whole
            self._seen = before
            if isinstance(outcome, str):
                self._failed(outcome)
                return
            self.error = None
            self._count("ok")
            if outcome.version != self.policy.version:
                self.policy = outcome
                logger.info("policy %s reloaded: version %s", self.path, outcome.version[:12])
                await self._apply(outcome)

    def _failed(self, problem: str) -> None:
        self.error = problem
        self._count("error")
        logger.error("%s; keeping the policy in force (version %s)", problem, self.policy.version[:12])

    def _count(self, result: str) -> None:
        if self._metrics is not None:
            self._metrics.policy_reloads.labels(result).inc()

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if file_signature(self.path) != self._seen:
                await self._reload_logged()

    async def _reload_logged(self) -> None:
        """A reload nobody awaits: whatever goes wrong is logged, and the watch goes on."""
        try:
            await self.reload()
        except Exception:
            logger.exception("reloading policy %s failed", self.path)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _read(path: Path) -> CedarPolicy | str:
    """The parsed policy, or why the file cannot be one (naming the file and, for a parse error, the line)."""
    try:
        return CedarPolicy.load(path)
    except ConfigError as exc:
        return str(exc)

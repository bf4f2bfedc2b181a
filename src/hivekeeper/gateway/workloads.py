"""Backends from this host's workloads: ``workload: NAME`` entries and a gateway-level ``group``.

The workloads manager is the only writer of the state files (one JSON file per workload, replaced
atomically: a new inode each time), so their names, inodes and modification times are a cheap and exact
change signal: a poll costs one ``scandir`` and parses nothing unless a file changed. On a change the
group's members are reconciled: a workload that started joins the catalog, one that stopped or was removed
leaves it, one that moved to another port is swapped; the catalog announces each change with
``list_changed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from hivekeeper.errors import ConfigError
from hivekeeper.gateway.catalog import Catalog, Member
from hivekeeper.transport.backend import Backend
from hivekeeper.workloads.state import StateStore, WorkloadRecord, running_endpoints, workloads_dir

log = logging.getLogger("hivekeeper.gateway")

POLL_INTERVAL = 1.0  # seconds between looks at the state directory

Signature = frozenset[tuple[str, int, int]]


def workload_url(name: str, where: str) -> str:
    """The URL of workload ``name`` from its state file; a ConfigError naming ``where`` when there is none."""
    record = _record(name)
    if record is None:
        raise ConfigError(f"{where}: no workload named {name!r} on this host (see `hivekeeper list`)")
    return record.url


def _record(name: str) -> WorkloadRecord | None:
    store = StateStore()
    path = store.path(name)
    with contextlib.suppress(OSError, ValueError):
        return WorkloadRecord.model_validate_json(path.read_bytes())
    return None


def _signature(directory: Path) -> Signature:
    try:
        with os.scandir(directory) as entries:
            return frozenset(
                (entry.name, entry.inode(), entry.stat().st_mtime_ns)
                for entry in entries
                if entry.name.endswith(".json")
            )
    except FileNotFoundError:
        return frozenset()


class WorkloadWatcher:
    """Keeps the catalog's workload-backed members in step with the workloads state.

    ``declared`` maps a declared backend's name to (the workload it stands for, the URL it was built
    with); the backend follows the workload to another port if it is re-created there. ``group`` members
    come and go with the group's running workloads; a name a declared backend holds is left to it.
    ``make_backend(name, url)`` builds the backend of either kind.
    """

    def __init__(
        self,
        catalog: Catalog,
        *,
        group: str | None,
        declared: Mapping[str, tuple[str, str]],
        make_backend: Callable[[str, str], Backend],
        interval: float = POLL_INTERVAL,
        directory: Path | None = None,
    ) -> None:
        self.catalog = catalog
        self.group = group
        self.declared = {backend: workload for backend, (workload, _) in declared.items()}
        self.make_backend = make_backend
        self.interval = interval
        self.directory = directory or workloads_dir()
        self._declared_urls = {backend: url for backend, (_, url) in declared.items()}
        self._group_urls: dict[str, str] = {}
        self._seen: Signature | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Join the group's running workloads now, then follow changes in the background."""
        await self.sync()
        self._task = asyncio.ensure_future(self._watch())

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.sync()
            except Exception:  # a bad moment of the state dir must not end the watch
                log.exception("gateway: reading workloads failed")

    async def sync(self) -> None:
        """Reconcile with the state files if they changed since the last look."""
        signature = _signature(self.directory)
        if signature == self._seen:
            return
        await self._sync_declared()
        if self.group is not None:
            await self._sync_group(self.group)
        self._seen = signature  # only once reconciled: a failed attempt is retried at the next look

    async def _sync_declared(self) -> None:
        for backend, workload in self.declared.items():
            record = _record(workload)
            if record is None or record.url == self._declared_urls.get(backend):
                continue  # gone (the backend stays, failing with its own error) or unchanged
            log.info("gateway: workload %s moved to %s", workload, record.url)
            self._declared_urls[backend] = record.url
            await self._swap(backend, record.url)

    async def _sync_group(self, group: str) -> None:
        # A name a declared backend holds (a workload's or not) stays with it.
        wanted = {
            name: url
            for name, url in running_endpoints(group)
            if name in self._group_urls or name not in self.catalog.members
        }
        for name in [n for n in self._group_urls if wanted.get(n) != self._group_urls[n]]:
            log.info("gateway: workload %s left group %s", name, group)
            await self.catalog.remove(name)
            del self._group_urls[name]
        for name, url in sorted(wanted.items()):
            if name in self._group_urls:
                continue
            log.info("gateway: workload %s of group %s joins at %s", name, group, url)
            await self.catalog.add(Member(self.make_backend(name, url)))
            self._group_urls[name] = url

    async def _swap(self, backend: str, url: str) -> None:
        old = self.catalog.members.get(backend)
        if old is not None:
            await self.catalog.replace(Member(self.make_backend(backend, url), old.filter))


__all__ = ["POLL_INTERVAL", "WorkloadWatcher", "workload_url"]

"""The manager: every workload of one user, kept up in one process.

``hivekeeper run`` starts it on demand (``hivekeeper.workloads.daemon``) and talks to it over a unix
socket; ``hivekeeper serve`` can host the same ``Manager`` in its own event loop. On start it brings
back every workload whose user-desired state is ``running``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hivekeeper.config import validate_document
from hivekeeper.errors import ConflictError, DeniedError, HivekeeperError, NotFoundError
from hivekeeper.policy.profiles import DEFAULT_PROFILE, load_profile
from hivekeeper.secrets import SecretStore, default_store
from hivekeeper.workloads import pinning, sources
from hivekeeper.workloads.logs import WorkloadLog
from hivekeeper.workloads.runtimes import Runtimes
from hivekeeper.workloads.spec import WorkloadSpec
from hivekeeper.workloads.state import StateStore, WorkloadRecord, logs_dir
from hivekeeper.workloads.workload import Launchable, RestartPolicy, Workload, egress_for, python_mounts

logger = logging.getLogger(__name__)


class Manager:
    def __init__(
        self,
        *,
        store: StateStore | None = None,
        secrets: SecretStore | None = None,
        policy: RestartPolicy | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.store = store or StateStore()
        self.secrets = secrets or default_store()
        self.policy = policy or RestartPolicy()
        self.runtimes = Runtimes()
        self.workloads: dict[str, Workload] = {}
        self._sync = on_change or _sync_clients
        self._sync_pending: asyncio.Task[None] | None = None
        self._creating = asyncio.Lock()

    # ---- operations (the control protocol maps 1:1 onto these) ---------------------------------------------

    async def run(self, spec_document: dict[str, Any], *, auto_name: bool = False) -> dict[str, object]:
        """Create a workload and start it; on any failure nothing of it remains.

        The answer is the workload's summary plus ``warnings``: what a human must hear about how it runs
        (an unrestricted-network profile, whether the user or the registry entry chose it; limits the
        runtime cannot enforce here)."""
        spec = validate_document(spec_document, WorkloadSpec, "workload")
        async with self._creating:
            if auto_name:
                spec = spec.model_copy(update={"name": self._free_name(spec.name)})
            if spec.name in self.workloads:
                raise ConflictError(f"workload {spec.name!r} already exists (hivekeeper rm {spec.name}, or --name)")
            spec, warnings = resolve_spec(spec)
            record = WorkloadRecord(spec=spec, port=spec.port or 0)
            workload = self._workload(record)
            self.workloads[spec.name] = workload
        try:
            launchable = await self._launchable(spec)
            await workload.start(launchable)
        except BaseException:
            self.workloads.pop(spec.name, None)
            self.store.delete(spec.name)
            workload.log.remove()
            if sources.source_kind(spec.source, spec.runtime) in ("uvx", "npx"):
                sources.remove_package_cache(spec.name)
            raise
        if launchable.url is None:  # a remote runs nothing here: nothing to limit
            warnings += workload.runtime.caveats(launchable.limits)
        return {**workload.record.summary(), "warnings": warnings}

    async def start(self, name: str) -> dict[str, object]:
        workload = self._get(name)
        if workload.record.status in ("running", "idle", "starting"):
            return workload.record.summary()
        workload.record.desired = "running"
        await self._start(workload)
        return workload.record.summary()

    async def stop(self, name: str) -> dict[str, object]:
        workload = self._get(name)
        workload.record.desired = "stopped"
        await workload.stop()
        return workload.record.summary()

    async def restart(self, name: str) -> dict[str, object]:
        workload = self._get(name)
        await workload.stop()
        workload.record.desired = "running"
        workload.record.restarts = 0
        workload.record.last_error = None
        await self._start(workload)
        return workload.record.summary()

    async def rm(self, name: str) -> dict[str, object]:
        workload = self._get(name)
        await workload.stop()
        self.workloads.pop(name, None)
        self.store.delete(name)
        workload.log.remove()
        sources.remove_package_cache(name)
        self._changed()
        return {"name": name, "removed": True}

    async def list(self) -> list[dict[str, object]]:
        return [self.workloads[name].record.summary() for name in sorted(self.workloads)]

    async def status(self, name: str) -> dict[str, object]:
        workload = self._get(name)
        summary = workload.record.summary()
        summary["instances"] = [
            {"index": i.index, "ready": i.backend.ready, "in_flight": i.in_flight, "crashes": i.crashes}
            for i in workload.instances
        ]
        summary["log"] = str(workload.log.path)
        return summary

    async def export(self, name: str) -> dict[str, Any]:
        return self._get(name).record.spec.export_document()

    # ---- manager lifetime ----------------------------------------------------------------------------------

    async def restore(self) -> None:
        """Bring back what was running before this manager (a reboot, a crash, an upgrade)."""
        records = self.store.load_all()
        for record in records:
            self.workloads[record.spec.name] = self._workload(record)
        wanted = [self.workloads[r.spec.name] for r in records if r.desired == "running"]
        for workload in wanted:
            workload.record.status = "starting"  # what `list` shows while the restore is under way
        await asyncio.gather(*(self._restore_one(workload) for workload in wanted))

    async def _restore_one(self, workload: Workload) -> None:
        with contextlib.suppress(Exception):  # recorded as the workload's error; the others go on
            await self._start(workload)

    async def _start(self, workload: Workload) -> None:
        """Start an existing workload; a failure leaves it in ``error`` with the cause, and propagates."""
        try:
            await workload.start(await self._launchable(workload.record.spec))
        except Exception as exc:
            message = exc.message if isinstance(exc, HivekeeperError) else f"{type(exc).__name__}: {exc}"
            workload.record.status = "error"
            workload.record.last_error = workload.log.redact(f"could not start: {message}")
            workload.log.write(workload.record.last_error, origin="manager")
            self.store.save(workload.record)
            raise

    def secret_values(self) -> tuple[str, ...]:
        """Every secret value injected into a running server: what log output must never show."""
        return tuple(value for workload in self.workloads.values() for value in workload.log.secrets)

    async def shutdown(self) -> None:
        """Stop every server but keep what the user wanted, so the next manager restores it."""
        await asyncio.gather(*(w.stop() for w in self.workloads.values()), return_exceptions=True)

    # ---- helpers -------------------------------------------------------------------------------------------

    def _changed(self) -> None:
        """A workload started, stopped or moved: tell the AI clients, at most once per burst, off the loop."""
        if self._sync_pending is None or self._sync_pending.done():
            self._sync_pending = asyncio.get_running_loop().create_task(self._sync_soon())

    async def _sync_soon(self) -> None:
        await asyncio.sleep(0.2)
        self._sync_pending = None  # a change from here on schedules another sync
        await asyncio.to_thread(self._sync)

    def _workload(self, record: WorkloadRecord) -> Workload:
        runtime_name = "process" if record.spec.source.startswith(("https://", "http://")) else record.spec.runtime
        return Workload(
            record,
            runtime=self.runtimes.get(runtime_name),
            store=self.store,
            log=WorkloadLog(logs_dir() / f"{record.spec.name}.log"),
            policy=self.policy,
            on_change=self._changed,
        )

    def _get(self, name: str) -> Workload:
        workload = self.workloads.get(name)
        if workload is None:
            raise NotFoundError(f"no workload named {name!r} (see hivekeeper list)")
        return workload

    def _free_name(self, base: str) -> str:
        if base not in self.workloads:
            return base
        return next(f"{base}-{n}" for n in range(2, 1000) if f"{base}-{n}" not in self.workloads)

    async def _launchable(self, spec: WorkloadSpec) -> Launchable:
        """Resolve what a start needs, failing before anything runs: secrets, profile, package, command."""
        secret_env = self.secrets.resolve(spec.secret_refs())
        env = {**spec.env, **secret_env}
        hidden = tuple(secret_env.values())
        profile = load_profile(spec.profile or DEFAULT_PROFILE)
        egress = egress_for(spec.egress(), profile.egress())
        mounts = [*profile.mounts(), *spec.mounts()]
        limits = spec.limits(profile.limits())
        kind = sources.source_kind(spec.source, spec.runtime)
        if kind == "remote":
            return Launchable(command=(), env={}, mounts=(), egress=None, limits=limits, url=spec.source)
        if kind == "image":
            if spec.registry:
                _check_image_pin(spec.registry, spec.source, spec.registry_database)
            command: tuple[str, ...] = tuple(spec.args)
            return Launchable(command, env, mounts, egress, limits, image=spec.source, secret_values=hidden)
        if kind in ("uvx", "npx"):
            package, _ = sources.split_package(spec.source)
            verify = (
                await asyncio.to_thread(pinning.artifact_check, spec.registry, package, spec.registry_database)
                if spec.registry
                else None
            )
            prepared = await sources.prepare_package(spec.name, spec.source, spec.args, verify=verify)
            return Launchable(prepared.command, env, [*mounts, *prepared.mounts], egress, limits, secret_values=hidden)
        if not Path(spec.source).is_file():
            raise sources.unknown_source(spec.source, spec.registry_database)
        command = (spec.source, *spec.args)
        return Launchable(command, env, [*python_mounts(command), *mounts], egress, limits, secret_values=hidden)


def resolve_spec(
    spec: WorkloadSpec, resolve: sources.Resolver = sources.resolve_registry_name
) -> tuple[WorkloadSpec, list[str]]:
    """``spec`` as it runs (a registry name replaced by its entry's source, arguments, env and profile, from the
    registry the spec names) and the warnings about how it runs: what ``run`` answers, and what the portal's
    run form shows before anything starts. ``resolve`` asks the registry (the resolvers registered here)."""
    resolved = _resolve_registry(spec, resolve)
    return resolved, run_warnings(resolved, registry_chose=spec.profile is None)


def _resolve_registry(spec: WorkloadSpec, resolve: sources.Resolver) -> WorkloadSpec:
    kind = sources.source_kind(spec.source, spec.runtime)
    if kind not in ("command", "image") or spec.source.startswith("/"):
        return spec
    # Under docker/podman a name is asked of the registry first too, so that an entry that ships an image
    # (the portal starts those with --runtime docker) runs its pinned digest; anything else is an image.
    match = resolve(spec.source, spec.registry_database)
    if match is None and kind == "image":
        return spec
    if match is None:
        raise sources.unknown_source(spec.source, spec.registry_database)
    # The entry's allowlist belongs to the profile it asks for: a --profile of the user's replaces both.
    entry_hosts = list(match.allow_hosts) if spec.profile is None else []
    return spec.model_copy(
        update={
            "source": match.source,
            # the resolver read the entry already; asking the registry again only for resolvers that don't say
            "registry": match.reference or pinning.pinned_reference(spec.source, spec.registry_database),
            "args": [*match.args, *spec.args],
            "env": {**match.env, **spec.env},
            "profile": spec.profile or match.profile,
            "allow_hosts": list(dict.fromkeys([*entry_hosts, *spec.allow_hosts])),
        }
    )


def run_warnings(spec: WorkloadSpec, *, registry_chose: bool) -> list[str]:
    """The warning of the profile ``spec`` runs under (the profile's own words, as ``--profile`` prints them),
    saying which registry entry asked for it when the entry did. A remote runs nothing here: no profile."""
    if sources.source_kind(spec.source, spec.runtime) == "remote":
        return []
    warnings: list[str] = []
    warning = load_profile(spec.profile or DEFAULT_PROFILE).warning
    if warning is not None:
        if registry_chose and spec.registry:
            warning = f"{warning}; asked for by the registry entry {spec.registry} (override it with --profile)"
        warnings.append(warning)
    if any(rule.host == "*" for rule in spec.egress()):
        warnings.append(
            "--allow-host '*' gives the server UNRESTRICTED outbound network access "
            "(any host; only this machine's loopback and link-local addresses stay blocked)"
        )
    return warnings


def default_name(source: str, args: list[str]) -> str:
    """A workload name from its source: the package, the image, the host, or the script."""
    if "://" in source:
        tail = source.split("://", 1)[1]
        base = tail.split("/")[0] if source.startswith("http") else tail.rsplit("/", 1)[-1].split("@")[0]
    else:
        scripts = [arg for arg in args if "." in Path(arg).name and not arg.startswith("-")]
        base = Path(scripts[0]).stem if scripts else Path(source).name.split(":")[0].rsplit("/", 1)[-1]
    name = re.sub(r"[^a-z0-9-]+", "-", base.lower()).strip("-")[:50].strip("-")
    return name or "server"


def _check_image_pin(reference: str, image: str, database: str | None) -> None:
    """An image from the registry runs by the digest its entry pins; the engine pulls by digest, so the
    content it runs is the content that digest names."""
    repository, _, digest = image.partition("@")
    if not digest:
        raise DeniedError(f"{reference}: image {image} is not pinned by digest; refusing an unverifiable artifact")
    pinning.artifact_check(reference, repository, database)(digest.removeprefix("sha256:"))


def _sync_clients() -> None:
    """Keep AI clients' configs in step with what runs; a broken client file never fails a workload."""
    try:
        from hivekeeper.clients import sync_clients

        sync_clients()
    except Exception:
        logger.warning("could not update AI client configurations", exc_info=True)

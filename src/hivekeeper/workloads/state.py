"""Persistent workload records: one JSON file per workload under the state dir, written atomically.

The manager is the only writer. Files hold the spec (secret references, never values), what the user
asked for (``desired``) and the last observed status, so a restarted manager knows what to bring back
and ``running_endpoints`` can answer without a round-trip to the manager.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from hivekeeper import paths
from hivekeeper.fileio import write_atomic
from hivekeeper.policy.profiles import DEFAULT_PROFILE
from hivekeeper.workloads.spec import WorkloadSpec

Status = Literal["starting", "running", "idle", "stopped", "error"]
Desired = Literal["running", "stopped"]


class WorkloadRecord(BaseModel):
    spec: WorkloadSpec
    desired: Desired = "running"
    status: Status = "starting"
    port: int
    restarts: int = 0
    last_error: str | None = None
    created_at: float = 0.0
    started_at: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def summary(self) -> dict[str, object]:
        """The machine-readable record of ``run --json``, ``list --json`` and ``status --json``."""
        return {
            "name": self.spec.name,
            "status": self.status,
            "url": self.url,
            "port": self.port,
            "source": self.spec.source,
            "runtime": self.spec.runtime,
            "pool": self.spec.pool,
            "group": self.spec.group,
            "registry": self.spec.registry,
            "profile": self.spec.profile or DEFAULT_PROFILE,
            "allow_hosts": self.spec.allow_hosts,
            "restarts": self.restarts,
            "last_error": self.last_error,
            "created_at": self.created_at,
            "started_at": self.started_at,
        }


def sandbox_name(workload: str, index: int) -> str:
    """The runtime name (cgroup, container, sandbox folder) of one instance of a workload.

    Runtimes name their resources on the host by it, and clean up by it before every launch; the tag of
    this hivekeeper home keeps two managers (two users, a test beside a real one) from sharing a name and
    tearing down each other's servers. At most 63 characters: ``hk-`` + 6 + ``-`` + 50 + ``-`` + 2.
    """
    home = hashlib.sha256(str(paths.state_dir().resolve()).encode()).hexdigest()[:6]
    return f"hk-{home}-{workload}-{index}"


def workloads_dir() -> Path:
    return paths.state_dir() / "workloads"


def logs_dir() -> Path:
    return paths.state_dir() / "logs"


class StateStore:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or workloads_dir()

    def path(self, name: str) -> Path:
        return self.root / f"{name}.json"

    def save(self, record: WorkloadRecord) -> None:
        if not record.created_at:
            record.created_at = time.time()
        write_atomic(self.path(record.spec.name), record.model_dump_json(indent=2))

    def load_all(self) -> list[WorkloadRecord]:
        """Every readable record; a damaged file is skipped (and left for the user to inspect)."""
        records = []
        for file in sorted(self.root.glob("*.json")):
            with contextlib.suppress(OSError, ValidationError, ValueError):
                records.append(WorkloadRecord.model_validate_json(file.read_bytes()))
        return records

    def delete(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)


def running_endpoints(group: str | None = None) -> list[tuple[str, str]]:
    """(name, URL) of workloads that are up (or idle-stopped and woken on demand), from the state files."""
    return [
        (record.spec.name, record.url)
        for record in StateStore().load_all()
        if record.desired == "running"
        and record.status in ("running", "idle", "starting")
        and (group is None or record.spec.group == group)
    ]

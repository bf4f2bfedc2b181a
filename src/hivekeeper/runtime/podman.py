"""The ``podman`` runtime: the docker runtime's containers through Podman's Docker-compatible API.

Start the API service once (rootful), e.g. with the flags Podman needs on hybrid-cgroup hosts:

    podman --cgroup-manager=cgroupfs --events-backend=file --runtime runc system service --time=0

It listens on ``unix:///run/podman/podman.sock`` (``$XDG_RUNTIME_DIR/podman/podman.sock`` rootless);
``CONTAINER_HOST`` or ``base_url=`` overrides that. Limits, read-only root, dropped capabilities,
uid 65534, ``--network none`` and the egress proxy planted in the container's network namespace are
exactly those of :mod:`hivekeeper.runtime.docker`.
"""

from __future__ import annotations

import os
from typing import Any

from hivekeeper.runtime.base import LaunchSpec
from hivekeeper.runtime.docker import DockerRuntime
from hivekeeper.runtime.egress import EgressProxy

# Podman copies the caller's (often unlimited) rlimits into containers, which runc then refuses to set
# on hosts with lower hard limits; explicit, modest values work everywhere.
ULIMITS = {"nofile": (1024, 1024), "nproc": (4096, 4096)}


def default_socket() -> str:
    if os.geteuid() == 0:
        return "unix:///run/podman/podman.sock"
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR", f"/run/user/{os.geteuid()}")
    return f"unix://{runtime_dir}/podman/podman.sock"


class PodmanRuntime(DockerRuntime):
    name = "podman"
    engine = "Podman"

    def __init__(self, *, base_url: str | None = None, proxy: EgressProxy | None = None) -> None:
        super().__init__(base_url=base_url or os.environ.get("CONTAINER_HOST") or default_socket(), proxy=proxy)

    def _create_options(self, spec: LaunchSpec) -> dict[str, Any]:
        from docker.types import Ulimit

        options = super()._create_options(spec)
        options["ulimits"] = [Ulimit(name=name, soft=soft, hard=hard) for name, (soft, hard) in ULIMITS.items()]
        return options

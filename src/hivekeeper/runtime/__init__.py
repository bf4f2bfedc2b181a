"""runtime: isolated processes for MCP servers.

``base`` holds the interface (cheap to import); implementations live in ``sandbox`` (bubblewrap, no
engine needed), ``docker`` and ``podman`` (engine API), imported by whoever picks one so a manager
running only sandboxes never loads the docker SDK. ``client.process_transport`` talks MCP to a
launched process; ``mounts`` makes host-installed interpreters and package caches visible inside.
"""

from hivekeeper.runtime.base import (
    OPEN_EGRESS,
    EgressRule,
    LaunchSpec,
    Limits,
    Mount,
    Process,
    Runtime,
    check_spec,
)

__all__ = ["OPEN_EGRESS", "EgressRule", "LaunchSpec", "Limits", "Mount", "Process", "Runtime", "check_spec"]

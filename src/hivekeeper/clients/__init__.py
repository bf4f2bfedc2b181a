"""Connecting AI clients (Claude, Cursor, VS Code, …) to hivekeeper by editing their MCP config files.

Public API: ``CLIENTS``/``BY_ID`` (what is supported and where each keeps its config), ``register``,
``remove``, ``status`` and ``sync_clients`` (keep registered clients current as workloads come and go).
"""

from __future__ import annotations

from hivekeeper.clients.catalog import BY_ID, CLIENTS, Client, Endpoint, Environment
from hivekeeper.clients.manager import ClientStatus, Registration, register, remove, status, sync


def workload_endpoints(group: str | None) -> list[Endpoint]:
    """The running workloads (in ``group``) as endpoints; none when the workloads part is absent."""
    try:
        from hivekeeper.workloads import running_endpoints  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return []
    return [Endpoint(name, url) for name, url in running_endpoints(group)]


def sync_clients(environment: Environment | None = None) -> None:
    """Rewrite the entries hivekeeper owns in every client that follows workloads."""
    sync(workload_endpoints, environment=environment)


__all__ = [
    "BY_ID",
    "CLIENTS",
    "Client",
    "ClientStatus",
    "Endpoint",
    "Environment",
    "Registration",
    "register",
    "remove",
    "status",
    "sync_clients",
    "workload_endpoints",
]

"""Workloads: MCP servers kept running by a per-user manager, each at its own ``http://127.0.0.1:PORT/mcp``.

Public API here: ``WorkloadSpec`` (the ``run``/``export`` document), ``running_endpoints`` (read state
without the manager), ``register_resolver`` (let registry names be SOURCEs). Heavier pieces are imported
from their modules: ``workloads.manager.Manager`` (host it in any event loop, as ``hivekeeper serve``
will) and ``workloads.control.ManagerClient`` (drive the running daemon).
"""

from hivekeeper.workloads.sources import RegistryMatch, register_resolver
from hivekeeper.workloads.spec import WorkloadSpec
from hivekeeper.workloads.state import WorkloadRecord, running_endpoints

__all__ = ["RegistryMatch", "WorkloadRecord", "WorkloadSpec", "register_resolver", "running_endpoints"]

"""``python -m hivekeeper.workloads.daemon``: the per-user manager process.

One per user (a file lock in the runtime dir); a second one exits at once. SIGTERM/SIGINT stop the
servers but keep what the user asked for, so the next manager brings them back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from filelock import FileLock, Timeout

from hivekeeper import paths
from hivekeeper.workloads.control import serve_control, socket_path
from hivekeeper.workloads.logs import RedactingFilter
from hivekeeper.workloads.manager import Manager
from hivekeeper.workloads.workload import RestartPolicy

RESTART_LIMIT_VARIABLE = "HIVEKEEPER_RESTART_LIMIT"


def _restart_policy() -> RestartPolicy:
    limit = os.environ.get(RESTART_LIMIT_VARIABLE, "")
    if limit.isdigit():
        return RestartPolicy(max_restarts=int(limit))
    if limit:
        logging.getLogger(__name__).error(
            "%s=%r is not a whole number; using the default", RESTART_LIMIT_VARIABLE, limit
        )
    return RestartPolicy()


async def run_manager() -> None:
    # Registry names as SOURCE; imported here so that importing the daemon module stays cheap.
    from hivekeeper.registry.resolve import registry_resolver
    from hivekeeper.workloads import register_resolver

    register_resolver(registry_resolver)
    manager = Manager(policy=_restart_policy())
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter(manager.secret_values))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = await serve_control(manager)
    logging.getLogger(__name__).info("manager listening on %s", socket_path())
    await manager.restore()
    try:
        await stop.wait()
    finally:
        server.close()
        await manager.shutdown()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    lock = FileLock(str(paths.ensure(paths.runtime_dir()) / "manager.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return  # another manager already serves this user
    try:
        try:
            import uvloop
        except ImportError:  # uvicorn[standard] brings it on Linux; plain asyncio works too
            asyncio.run(run_manager())
        else:
            uvloop.run(run_manager())
    finally:
        lock.release()


if __name__ == "__main__":
    main()

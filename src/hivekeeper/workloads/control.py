"""The CLI ⇄ manager protocol: one JSON request and one JSON answer per line over a unix socket.

The socket lives in the user's runtime dir with mode 0600: only its owner can drive the manager.
Errors travel as ``{"error": {"type": ..., "message": ...}}`` and become the same ``HivekeeperError``
subclass on the client side, so exit codes survive the hop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from hivekeeper import errors, paths
from hivekeeper.errors import HivekeeperError, UnavailableError
from hivekeeper.workloads.manager import Manager

logger = logging.getLogger(__name__)

OPERATIONS = ("run", "start", "stop", "restart", "rm", "list", "status", "export", "ping")
_ERROR_TYPES: dict[str, type[HivekeeperError]] = {
    cls.__name__: cls
    for cls in (
        errors.HivekeeperError,
        errors.ConfigError,
        errors.NotFoundError,
        errors.ConflictError,
        errors.UnavailableError,
        errors.ReadyTimeoutError,
        errors.DeniedError,
    )
}
START_TIMEOUT = 15.0


def socket_path() -> Path:
    return paths.runtime_dir() / "manager.sock"


# ---- server side ---------------------------------------------------------------------------------------------


async def serve_control(manager: Manager, path: Path | None = None) -> asyncio.Server:
    path = path or socket_path()
    paths.ensure(path.parent)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    old_mask = os.umask(0o177)
    try:
        server = await asyncio.start_unix_server(lambda r, w: _session(manager, r, w), path=str(path), limit=2**22)
    finally:
        os.umask(old_mask)
    return server


async def _session(manager: Manager, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while line := await reader.readline():
            answer = await _dispatch(manager, line)
            writer.write(orjson.dumps(answer) + b"\n")
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def _dispatch(manager: Manager, line: bytes) -> dict[str, Any]:
    try:
        request = orjson.loads(line)
        op = request.get("op")
        if op not in OPERATIONS:
            raise errors.ConfigError(f"unknown manager operation {op!r}")
        if op == "ping":
            return {"result": {"pid": os.getpid()}}
        method = getattr(manager, op)
        return {"result": await method(**request.get("args", {}))}
    except HivekeeperError as exc:
        # A subclass (e.g. the registry's ArtifactMismatchError) travels as the shared type it extends,
        # so the CLI exits with that type's code.
        shared = next(cls.__name__ for cls in type(exc).__mro__ if cls.__name__ in _ERROR_TYPES)
        return {"error": {"type": shared, "message": exc.message}}
    except Exception as exc:  # a bug must not take the manager (and every server) down
        logger.exception("manager operation failed")
        return {"error": {"type": "HivekeeperError", "message": f"manager error: {type(exc).__name__}: {exc}"}}


# ---- client side ---------------------------------------------------------------------------------------------


class ManagerClient:
    """Blocking client for the CLI; ``ensure_running`` starts the manager when nobody answers."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or socket_path()

    def call(self, op: str, timeout: float = 600.0, **args: Any) -> Any:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            try:
                sock.connect(str(self.path))
            except OSError as exc:
                raise UnavailableError(f"the hivekeeper manager is not running ({exc.strerror})") from None
            sock.sendall(orjson.dumps({"op": op, "args": args}) + b"\n")
            buffer = b""
            while not buffer.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    raise UnavailableError("the hivekeeper manager closed the connection (see manager.log)")
                buffer += chunk
        answer = orjson.loads(buffer)
        if "error" in answer:
            error = answer["error"]
            raise _ERROR_TYPES.get(error["type"], HivekeeperError)(error["message"])
        return answer["result"]

    def alive(self) -> bool:
        try:
            self.call("ping", timeout=5.0)
        except UnavailableError:
            return False
        return True

    def ensure_running(self) -> ManagerClient:
        if self.alive():
            return self
        log = paths.ensure(paths.state_dir()) / "manager.log"
        with open(log, "ab") as sink:
            subprocess.Popen(
                [sys.executable, "-m", "hivekeeper.workloads.daemon"],
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=sink,
                start_new_session=True,
                close_fds=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.alive():
                return self
            time.sleep(0.05)
        raise UnavailableError(f"the hivekeeper manager did not start within {START_TIMEOUT:g} s (see {log})")

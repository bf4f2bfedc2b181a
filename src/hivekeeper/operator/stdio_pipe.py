"""The proxy's end of a stdio server running in another container of the same pod.

The server container runs ``exec CMD <DIR/in >DIR/out`` (a shell redirect, so the server image needs
nothing from hivekeeper); the proxy starts ``hivekeeper kube stdio-pipe DIR`` as its stdio backend,
which copies its stdin into ``DIR/in`` and ``DIR/out`` to its stdout. Both sides open ``in`` before
``out``: opening a FIFO blocks until the other end opens it, so the same order on both sides cannot
deadlock. When the server exits the pipe sees EOF and exits 1, and the proxy restarts its backend,
which waits for the server container's restart.
"""

from __future__ import annotations

import os
import stat
import sys
import threading
from pathlib import Path

from hivekeeper.errors import ConfigError

_CHUNK = 65536


def prepare(directory: Path) -> None:
    """Create the two FIFOs (an init container does this once per pod; the emptyDir outlives restarts)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("in", "out"):
        path = directory / name
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            os.mkfifo(path, 0o660)
            continue
        if not stat.S_ISFIFO(mode):
            raise ConfigError(f"{path}: exists and is not a FIFO")


def _copy(source: int, target: int, side: str, ended: list[str], finished: threading.Event) -> None:
    try:
        while chunk := os.read(source, _CHUNK):
            view = memoryview(chunk)
            while view:
                view = view[os.write(target, view) :]
    except OSError:
        pass  # the other side went away: same as EOF
    finally:
        ended.append(side)
        finished.set()


def run(directory: Path, stdin: int | None = None, stdout: int | None = None) -> int:
    """Bridge ``stdin``/``stdout`` to the FIFOs until either side closes; 1 when the server went away."""
    for name in ("in", "out"):
        if not (directory / name).is_fifo():
            raise ConfigError(f"{directory / name}: no such FIFO (run with --init first)")
    source = sys.stdin.fileno() if stdin is None else stdin
    sink = sys.stdout.fileno() if stdout is None else stdout
    to_server = os.open(directory / "in", os.O_WRONLY)
    from_server = os.open(directory / "out", os.O_RDONLY)
    ended: list[str] = []
    finished = threading.Event()
    threads = [
        threading.Thread(target=_copy, args=(source, to_server, "client", ended, finished), daemon=True),
        threading.Thread(target=_copy, args=(from_server, sink, "server", ended, finished), daemon=True),
    ]
    for thread in threads:
        thread.start()
    finished.wait()
    os.close(to_server)  # the server sees EOF on stdin and ends
    if ended[0] == "client":
        threads[1].join(timeout=5)  # let the server's last replies through
        return 0
    return 1


__all__ = ["prepare", "run"]

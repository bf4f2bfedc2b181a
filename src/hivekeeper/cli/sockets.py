"""Listening sockets bound before a server starts, so a taken port is a one-line error (exit 4), not a
traceback from inside the server."""

from __future__ import annotations

import errno
import socket

from hivekeeper.errors import ConfigError, ConflictError


def listening_socket(host: str, port: int, *, backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConflictError(f"port {port} on {host} is already in use") from None
        raise ConfigError(f"cannot bind {host}:{port}: {exc.strerror}") from None
    sock.listen(backlog)
    sock.setblocking(False)
    return sock

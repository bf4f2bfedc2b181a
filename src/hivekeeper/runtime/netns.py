"""Network namespaces whose only door is a listening socket owned by the host.

A sandboxed server gets a network namespace that holds nothing but a loopback interface. Before the
server starts, the host plants a TCP listener on ``127.0.0.1:PROXY_PORT`` *inside* that namespace (a
socket keeps the namespace it was created in, whoever serves it later) and serves it with the egress
proxy. There is no veth, no route and no address leading to the host or the internet, so there is
nothing to filter with nftables and nothing ``ip_forward`` could forward: the proxy's socket is the
only way out, and it is served by the host process, outside the sandbox's reach.

Namespace switches happen on a short-lived thread (network namespaces are per thread on Linux), so
the rest of the process never leaves the host namespace and no ``ip``/``nft`` process is forked.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct
import threading
from collections.abc import Callable
from typing import TypeVar

PROXY_PORT = 3128
PROXY_HOST = "127.0.0.1"

_CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_libc = ctypes.CDLL(None, use_errno=True)

ResultT = TypeVar("ResultT")


def _check(result: int, call: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{call}: {os.strerror(err)}")


def _on_fresh_thread(work: Callable[[], ResultT]) -> ResultT:
    """Run ``work`` on a thread of its own, so a namespace switch can never leak into a pooled thread."""
    outcome: list[ResultT] = []
    failure: list[BaseException] = []

    def runner() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=runner, name="hivekeeper-netns", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]


def _bring_loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as control:
        request = struct.pack("16sH22x", b"lo", 0)
        (flags,) = struct.unpack_from("H", fcntl.ioctl(control.fileno(), _SIOCGIFFLAGS, request), 16)
        fcntl.ioctl(control.fileno(), _SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | _IFF_UP))


def _listen_on_loopback(port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((PROXY_HOST, port))
        listener.listen(64)
        listener.setblocking(False)
    except BaseException:
        listener.close()
        raise
    return listener


class IsolatedNetwork:
    """A fresh network namespace (loopback only) plus the proxy listener planted in it."""

    def __init__(self, namespace_fd: int, listener: socket.socket) -> None:
        self._namespace_fd = namespace_fd
        self.listener = listener

    @property
    def namespace_path(self) -> str:
        """A path that names the namespace for ``nsenter --net=`` while this object is open."""
        return f"/proc/{os.getpid()}/fd/{self._namespace_fd}"

    def close(self) -> None:
        """Drop the host's references; the namespace vanishes once its last process exits."""
        self.listener.close()
        if self._namespace_fd >= 0:
            os.close(self._namespace_fd)
            self._namespace_fd = -1


def _in_namespace(enter: Callable[[], None], then: Callable[[], ResultT]) -> ResultT:
    """Switch this thread's network namespace with ``enter``, run ``then``, and switch back."""

    def work() -> ResultT:
        original = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            enter()
            try:
                return then()
            finally:
                _check(_libc.setns(original, _CLONE_NEWNET), "setns back to the host network")
        finally:
            os.close(original)

    return _on_fresh_thread(work)


def create_isolated_network(port: int = PROXY_PORT) -> IsolatedNetwork:
    """A new network namespace with loopback up and a listener on ``127.0.0.1:port`` inside it."""

    def inside() -> IsolatedNetwork:
        namespace_fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _bring_loopback_up()
            return IsolatedNetwork(namespace_fd, _listen_on_loopback(port))
        except BaseException:
            os.close(namespace_fd)
            raise

    return _in_namespace(lambda: _check(_libc.unshare(_CLONE_NEWNET), "unshare(CLONE_NEWNET)"), inside)


def plant_listener(namespace_path: str, port: int = PROXY_PORT) -> socket.socket:
    """A listener on ``127.0.0.1:port`` inside an existing namespace (e.g. ``/proc/PID/ns/net``)."""

    def enter() -> None:
        target = os.open(namespace_path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _check(_libc.setns(target, _CLONE_NEWNET), f"setns({namespace_path})")
        finally:
            os.close(target)

    def inside() -> socket.socket:
        _bring_loopback_up()
        return _listen_on_loopback(port)

    return _in_namespace(enter, inside)

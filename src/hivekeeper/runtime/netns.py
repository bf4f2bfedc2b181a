"""Network namespaces whose only door is a listening socket owned by the host.

A sandboxed server gets a network namespace that holds nothing but a loopback interface. Before the
server starts, the host plants a TCP listener on ``127.0.0.1:PROXY_PORT`` *inside* that namespace (a
socket keeps the namespace it was created in, whoever serves it later) and serves it with the egress
proxy. There is no veth, no route and no address leading to the host or the internet, so there is
nothing to filter with nftables and nothing ``ip_forward`` could forward: the proxy's socket is the
only way out, and it is served by the host process, outside the sandbox's reach.

Namespace switches never touch the threads that serve: a container's namespace (docker's, owned by
the host's user namespace) is entered on a short-lived thread, since network namespaces are per thread
on Linux; a bubblewrap sandbox's namespace belongs to the sandbox's own user namespace, which only a
single-threaded process may join, so a forked child plants the listener and sends it back. Either
way no ``ip``/``nft`` process is run; the sandbox's way needs no root.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import NoReturn, TypeVar

PROXY_PORT = 3128
PROXY_HOST = "127.0.0.1"

_CLONE_NEWNET = 0x40000000
_CLONE_NEWUSER = 0x10000000
_NS_GET_USERNS = 0xB701  # ioctl_ns(2): _IO(0xb7, 0x1), the user namespace owning a namespace
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


def _loopback_flags(control: socket.socket) -> int:
    request = struct.pack("16sH22x", b"lo", 0)
    (flags,) = struct.unpack_from("H", fcntl.ioctl(control.fileno(), _SIOCGIFFLAGS, request), 16)
    return int(flags)


def _bring_loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as control:
        flags = _loopback_flags(control)
        fcntl.ioctl(control.fileno(), _SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | _IFF_UP))


_LOOPBACK_POLLS = 5000  # x 1 ms


def _await_loopback_up() -> None:
    """Wait for bubblewrap to finish setting up the sandbox's loopback (it adds 127.0.0.1, then brings the
    link up). Bringing it up from here instead races that setup: the kernel adds 127.0.0.1 itself to a
    loopback going up, bubblewrap's own exclusive add then fails ("loopback: Failed RTM_NEWADDR") and the
    sandbox dies; seen under load in full test runs."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as control:
        for _ in range(_LOOPBACK_POLLS):
            if _loopback_flags(control) & _IFF_UP:
                return
            time.sleep(0.001)
    raise OSError(errno.ETIMEDOUT, "the sandbox did not bring its loopback interface up within 5 s")


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


def plant_listener(namespace_path: str, port: int = PROXY_PORT, *, sandboxed: bool = False) -> socket.socket:
    """A listener on ``127.0.0.1:port`` inside an existing namespace (e.g. ``/proc/PID/ns/net``). A container's
    loopback is brought up if need be; a bubblewrap sandbox (``sandboxed``) brings up its own."""

    def enter() -> None:
        target = os.open(namespace_path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _check(_libc.setns(target, _CLONE_NEWNET), f"setns({namespace_path})")
        finally:
            os.close(target)

    def inside() -> socket.socket:
        if sandboxed:
            _await_loopback_up()
        else:
            _bring_loopback_up()
        return _listen_on_loopback(port)

    return _in_namespace(enter, inside)


def plant_listener_in_sandbox(pid: int, port: int = PROXY_PORT) -> socket.socket:
    """A listener on ``127.0.0.1:port`` inside the network namespace of process ``pid``, a bubblewrap
    sandbox started by this process, root or not.

    The namespace belongs to a user namespace the sandbox created. Root holds every capability there
    and enters it from a thread. Anyone else owns that user namespace but must join it first, which
    the kernel refuses to a multithreaded process: a forked child joins both, creates the socket and
    sends it back over a socket pair (the fork costs a few ms of CPU, root does without). The child
    makes system calls only, then ``_exit``s: nothing other threads might hold is touched."""
    if os.geteuid() == 0:
        return plant_listener(f"/proc/{pid}/ns/net", port, sandboxed=True)
    net_ns, user_ns = _sandbox_namespaces(pid)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with ours, theirs:
        child = os.fork()
        if child == 0:  # pragma: no cover - runs in the forked child, reported through the socket pair
            _plant_and_send(user_ns, net_ns, port, theirs)
        os.close(user_ns)
        os.close(net_ns)
        theirs.close()
        os.waitpid(child, 0)
        message, fds, _, _ = socket.recv_fds(ours, 512, 1)
    if not fds:
        reason = message.decode(errors="replace") or "the planting process died"
        raise OSError(errno.EPERM, f"cannot plant the egress listener in sandbox {pid}: {reason}")
    listener = socket.socket(fileno=fds[0])
    listener.setblocking(False)
    return listener


_OWN_NAMESPACE_POLLS = 100  # x 10 ms


def _sandbox_namespaces(pid: int) -> tuple[int, int]:
    """File descriptors of the sandbox's network namespace and of the user namespace owning it.

    The owner, not /proc/PID/ns/user: bubblewrap nests a second user namespace (--disable-userns), and
    from there the network namespace is out of reach. Under heavy load the kernel was seen refusing to
    join that owner as if it were this process's own (EINVAL), once in several full test runs; so a
    namespace still owned by our user namespace is taken for one not set up yet, and looked at again."""
    own = os.stat("/proc/self/ns/user").st_ino
    for _ in range(_OWN_NAMESPACE_POLLS):
        net_ns = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            user_ns = fcntl.ioctl(net_ns, _NS_GET_USERNS)
        except BaseException:
            os.close(net_ns)
            raise
        if os.fstat(user_ns).st_ino != own:
            return net_ns, user_ns
        os.close(user_ns)
        os.close(net_ns)
        time.sleep(0.01)
    raise OSError(errno.EPERM, f"sandbox {pid} has no network namespace of its own")


def _errno_text() -> str:
    """The last libc error as "EINVAL (Invalid argument)": the name tells the kernel's reasons apart."""
    code = ctypes.get_errno()
    return f"{errno.errorcode.get(code, code)} ({os.strerror(code)})"


def _plant_and_send(user_ns: int, net_ns: int, port: int, channel: socket.socket) -> NoReturn:
    code = 1
    try:
        if _libc.setns(user_ns, _CLONE_NEWUSER) != 0:
            channel.sendall(f"setns(user): {_errno_text()}".encode())
        elif _libc.setns(net_ns, _CLONE_NEWNET) != 0:
            channel.sendall(f"setns(net): {_errno_text()}".encode())
        else:
            _await_loopback_up()
            listener = _listen_on_loopback(port)
            socket.send_fds(channel, [b"ok"], [listener.fileno()])
            code = 0
    except BaseException as exc:
        with contextlib.suppress(BaseException):
            channel.sendall(f"{type(exc).__name__}: {exc}".encode())
    finally:
        os._exit(code)

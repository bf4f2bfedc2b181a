"""The egress proxy: the only way a sandboxed server reaches the network.

It speaks HTTP ``CONNECT`` (for TLS and any TCP protocol) and plain HTTP forward proxying
(absolute-form request targets), checks every destination against the server's allowlist and resolves
names itself; the sandbox has no resolver and no route. Each server gets its own listener (planted in
its network namespace by :mod:`hivekeeper.runtime.netns`), so the listener a connection arrives on
says whose allowlist applies — nothing the server sends can claim another identity.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from hivekeeper.errors import ConfigError
from hivekeeper.runtime.base import EgressRule

logger = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024
HEAD_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10.0
# Per server: a hostile server opening connections without end must not exhaust the host's descriptors.
MAX_CONNECTIONS_PER_SERVER = 256
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "proxy-authenticate"}


def proxy_env(url: str) -> dict[str, str]:
    """The variables that point HTTP clients (curl, requests, httpx, node's undici via flags) at a proxy."""
    return {
        "HTTP_PROXY": url,
        "HTTPS_PROXY": url,
        "http_proxy": url,
        "https_proxy": url,
        "NO_PROXY": "",
        "no_proxy": "",
    }


class EgressDenied(Exception):
    """A destination the policy refuses; the message is sent back to the server."""


def _normalise_host(host: str) -> str:
    return host.strip().rstrip(".").lower()


@dataclass(frozen=True)
class EgressPolicy:
    """Which ``host:port`` destinations a server may open. ``*.example.com`` matches subdomains only."""

    rules: tuple[EgressRule, ...]

    @classmethod
    def from_rules(cls, rules: Iterable[EgressRule]) -> EgressPolicy:
        return cls(tuple(EgressRule(_normalise_host(rule.host), rule.port) for rule in rules))

    @property
    def is_open(self) -> bool:
        return any(rule.host == "*" for rule in self.rules)

    def matching_rule(self, host: str, port: int) -> EgressRule | None:
        host = _normalise_host(host)
        for rule in self.rules:
            if rule.port is not None and rule.port != port:
                continue
            if rule.host == "*" or rule.host == host:
                return rule
            if rule.host.startswith("*.") and host.endswith(rule.host[1:]):
                return rule
        return None


def _is_internal(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast or ip.is_reserved


@dataclass
class _Listener:
    server: asyncio.Server
    connections: set[asyncio.Task[None]]


class EgressProxy:
    """Serves per-server listeners. ``resolver_overrides`` maps names to addresses (operator config,
    tests): an overridden name skips DNS and may point at internal addresses, which DNS answers may not
    (so an allowlisted name cannot be re-pointed at the host's loopback services or cloud metadata)."""

    def __init__(
        self,
        resolver_overrides: Mapping[str, str] | None = None,
        *,
        max_connections: int = MAX_CONNECTIONS_PER_SERVER,
    ) -> None:
        self.resolver_overrides = {_normalise_host(k): v for k, v in (resolver_overrides or {}).items()}
        self.max_connections = max_connections
        self._listeners: dict[str, _Listener] = {}

    async def serve(self, name: str, listener: socket.socket, policy: EgressPolicy) -> None:
        """Serve ``listener`` for server ``name`` until :meth:`stop` is called."""
        if name in self._listeners:
            raise RuntimeError(f"egress proxy already serves {name!r}")
        connections: set[asyncio.Task[None]] = set()

        async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if len(connections) >= self.max_connections:
                logger.warning("egress denied for %s: over %d open connections", name, self.max_connections)
                await _respond(writer, 429, "Too Many Requests", "hivekeeper egress: too many open connections")
                writer.close()
                return
            task = asyncio.current_task()
            assert task is not None
            connections.add(task)
            try:
                await self._handle(name, policy, reader, writer)
            finally:
                connections.discard(task)

        server = await asyncio.start_server(on_connection, sock=listener, limit=MAX_HEAD_BYTES)
        self._listeners[name] = _Listener(server, connections)

    async def stop(self, name: str) -> None:
        """Close ``name``'s listener and cut its open connections."""
        entry = self._listeners.pop(name, None)
        if entry is None:
            return
        entry.server.close()
        for task in list(entry.connections):
            task.cancel()
        await asyncio.gather(*entry.connections, return_exceptions=True)
        with contextlib.suppress(Exception):
            await entry.server.wait_closed()

    async def _handle(
        self, name: str, policy: EgressPolicy, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            writer.close()
            return
        try:
            await self._dispatch(name, policy, head, reader, writer)
        except EgressDenied as exc:
            logger.warning("egress denied for %s: %s", name, exc)
            await _respond(writer, 403, "Forbidden", f"hivekeeper egress: {exc}")
        except _BadRequest as exc:
            await _respond(writer, 400, "Bad Request", f"hivekeeper egress: {exc}")
        except (OSError, TimeoutError) as exc:
            await _respond(writer, 502, "Bad Gateway", f"hivekeeper egress: upstream unreachable: {exc}")
        finally:
            writer.close()

    async def _dispatch(
        self, name: str, policy: EgressPolicy, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        request_line, _, header_block = head.decode("latin-1").partition("\r\n")
        parts = request_line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest(f"malformed request line {request_line[:100]!r}")
        method, target, version = parts
        if method == "CONNECT":
            host, port = _split_authority(target, default_port=None)
            upstream_reader, upstream_writer = await self._open(policy, host, port)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await _splice(reader, writer, upstream_reader, upstream_writer)
            return
        url = urlsplit(target)
        if url.scheme != "http" or not url.hostname:
            raise _BadRequest(f"expected CONNECT or an absolute http:// URL, got {target[:100]!r}")
        host, port = url.hostname, url.port or 80
        upstream_reader, upstream_writer = await self._open(policy, host, port)
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        lines = [f"{method} {path} {version}"]
        for line in header_block.split("\r\n"):
            if line and line.split(":", 1)[0].strip().lower() not in _HOP_BY_HOP:
                lines.append(line)
        # One request per upstream connection: a later request on a kept-alive client connection could
        # name another host, so the upstream closes after answering and the client reconnects.
        lines.append("Connection: close")
        upstream_writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await _splice(reader, writer, upstream_reader, upstream_writer)

    async def _open(
        self, policy: EgressPolicy, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        rule = policy.matching_rule(host, port)
        if rule is None:
            raise EgressDenied(f"{host}:{port} is not in the allowlist")
        # An IP literal the operator wrote down is deliberate, even when it is internal.
        named_literally = rule.host == _normalise_host(host)
        addresses = await self._resolve(host, port, allow_internal=named_literally)
        logger.info("egress allowed: %s:%s", host, port)
        for address in addresses:
            try:
                return await asyncio.wait_for(asyncio.open_connection(address, port), CONNECT_TIMEOUT_S)
            except (OSError, TimeoutError) as exc:
                last_error: OSError | TimeoutError = exc
        raise last_error

    async def _resolve(self, host: str, port: int, *, allow_internal: bool) -> Sequence[str]:
        host = _normalise_host(host)
        override = self.resolver_overrides.get(host)
        if override is not None:
            return [override]
        try:
            addresses = [str(ipaddress.ip_address(host.strip("[]")))]
            if allow_internal:
                return addresses
        except ValueError:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except socket.gaierror as exc:
                raise OSError(f"cannot resolve {host}: {exc.strerror}") from exc
            addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        allowed = [address for address in addresses if not _is_internal(address)]
        if not allowed:
            raise EgressDenied(f"{host} resolves to internal address {addresses[0]}")
        return allowed


class _BadRequest(Exception):
    pass


_HOSTNAME = re.compile(r"^(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")


def parse_allow(text: str) -> EgressRule:
    """Parse ``HOST[:PORT]``: ``api.example.com``, ``*.example.com:443`` (subdomains only), ``10.0.0.5:5432``,
    ``[2001:db8::1]:443`` or ``*`` (anything: open egress). Raises ConfigError naming the problem."""
    text = text.strip()
    host, port_text = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise ConfigError(f"allowed host {text!r}: expected [IPv6]:PORT")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    host = _normalise_host(host)
    port: int | None = None
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ConfigError(f"allowed host {text!r}: port must be 1-65535")
        port = int(port_text)
    if host != "*":
        try:
            host = str(ipaddress.ip_address(host))
        except ValueError:
            if not _HOSTNAME.match(host):
                raise ConfigError(
                    f"allowed host {text!r}: expected a host name, *.domain, an IP address or *"
                ) from None
    return EgressRule(host=host, port=port)


def format_allow(rule: EgressRule) -> str:
    """The ``HOST[:PORT]`` text :func:`parse_allow` reads back as ``rule`` (IPv6 in brackets)."""
    host = f"[{rule.host}]" if ":" in rule.host else rule.host
    return host if rule.port is None else f"{host}:{rule.port}"


def _split_authority(authority: str, default_port: int | None) -> tuple[str, int]:
    host, sep, port_text = authority.rpartition(":")
    if not sep or (host.startswith("[") != host.endswith("]")):
        if default_port is None:
            raise _BadRequest(f"CONNECT target {authority[:100]!r} lacks a port")
        host, port_text = authority, str(default_port)
    try:
        port = int(port_text)
    except ValueError:
        raise _BadRequest(f"bad port in {authority[:100]!r}") from None
    if not 0 < port < 65536 or not host:
        raise _BadRequest(f"bad authority {authority[:100]!r}")
    return host.strip("[]"), port


async def _respond(writer: asyncio.StreamWriter, status: int, reason: str, message: str) -> None:
    body = (message + "\n").encode()
    writer.write(
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
        f"Connection: close\r\n\r\n".encode()
        + body
    )
    with contextlib.suppress(ConnectionError):
        await writer.drain()


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while chunk := await source.read(65536):
            sink.write(chunk)
            await sink.drain()
        if sink.can_write_eof():
            sink.write_eof()
    except (ConnectionError, OSError):
        pass


async def _splice(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    upstream_reader: asyncio.StreamReader,
    upstream_writer: asyncio.StreamWriter,
) -> None:
    try:
        await asyncio.gather(_pump(client_reader, upstream_writer), _pump(upstream_reader, client_writer))
    finally:
        upstream_writer.close()

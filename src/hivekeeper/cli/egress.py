"""``hivekeeper egress-proxy``: the egress proxy as a standalone service (e.g. one per MCP server pod,
with a NetworkPolicy that lets the server reach only this proxy).

    hivekeeper egress-proxy --listen 0.0.0.0:3128 --allow api.github.com:443 --allow '*.example.com'

One log line per decision goes to stdout. Without ``--allow`` everything is refused.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys

import typer

from hivekeeper.cli.sockets import listening_socket
from hivekeeper.errors import ConfigError
from hivekeeper.runtime.egress import EgressPolicy, EgressProxy, parse_allow


def register(app: typer.Typer) -> None:
    app.command("egress-proxy")(egress_proxy)


def _bind(listen: str) -> socket.socket:
    host, sep, port_text = listen.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) < 65536:
        raise ConfigError(f"--listen {listen!r}: expected HOST:PORT")
    host = host.strip("[]") or "0.0.0.0"
    return listening_socket(host, int(port_text), backlog=512)


def egress_proxy(
    listen: str = typer.Option("127.0.0.1:3128", "--listen", help="HOST:PORT to serve the proxy on."),
    allow: list[str] = typer.Option(
        [], "--allow", help="Allowed destination HOST[:PORT], *.domain[:PORT] or IP[:PORT] (repeatable)."
    ),
) -> None:
    """Serve an HTTP CONNECT + forward proxy that lets through only allowlisted destinations."""
    rules = [parse_allow(entry) for entry in allow]
    listener = _bind(listen)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(message)s")
    policy = EgressPolicy.from_rules(rules)
    if policy.is_open:
        logging.warning("--allow '*': UNRESTRICTED egress (only loopback and link-local stay blocked)")
    elif not rules:
        logging.warning("no --allow given: every destination will be refused")
    host, port = listener.getsockname()[:2]
    print(f"egress proxy listening on {host}:{port}", flush=True)

    async def serve() -> None:
        await EgressProxy().serve("egress-proxy", listener, policy)
        await asyncio.Event().wait()

    asyncio.run(serve())

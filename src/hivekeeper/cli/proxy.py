"""``hivekeeper proxy``: put one MCP server behind Streamable HTTP (and legacy SSE), or a remote one behind stdio.

    hivekeeper proxy [--host H] [--port P] -- COMMAND [ARGS...]   stdio server  -> http://H:P/mcp
    hivekeeper proxy --target URL                                  remote server -> http://H:P/mcp
    hivekeeper proxy stdio URL                                     remote server -> this process's stdio

A remote server's credentials go in ``--header 'Name: value'`` or, kept off the command line, in
``--header-secret 'Name=SECRET[,format=Bearer {value}]'`` (the value from ``hivekeeper secret``).
Once the backend has answered its handshake, the served URL is printed on stdout as one line (so scripts can
read it; ``--port 0`` picks a free port). Everything else goes to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shlex
import sys

import typer

from hivekeeper.cli.sockets import listening_socket
from hivekeeper.errors import ConfigError, HivekeeperError, UnavailableError

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an RFC 9110 token
_HEADER_VALUE = re.compile(r"^[^\x00\r\n]*$")


def register(app: typer.Typer) -> None:
    app.command(
        "proxy",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(proxy)


def proxy(
    command: list[str] = typer.Argument(
        None, metavar="-- COMMAND [ARGS]... | stdio URL", help="The stdio server to run, or `stdio URL`."
    ),
    target: str | None = typer.Option(None, "--target", help="Proxy a remote Streamable HTTP or SSE server."),
    host: str = typer.Option("127.0.0.1", help="Address to bind; loopback unless you mean it."),
    port: int = typer.Option(8000, help="TCP port; 0 picks a free one."),
    timeout: float = typer.Option(60.0, min=0.001, help="Seconds a request may take upstream."),
    max_body: int = typer.Option(4 * 1024 * 1024, min=1, help="Largest request body accepted, in bytes."),
    session_ttl: float = typer.Option(3600.0, min=0.001, help="Idle seconds before a client session expires."),
    allow_origin: list[str] = typer.Option(
        [], "--allow-origin", help="Browser origin to accept besides loopback ones (repeatable)."
    ),
    era: str = typer.Option("auto", help="Upstream protocol era: auto, 2026-07-28 or 2025-11-25."),
    header: list[str] = typer.Option(
        [], "--header", help="'Name: value' sent to the remote server with every request (repeatable)."
    ),
    header_secret: list[str] = typer.Option(
        [],
        "--header-secret",
        help="'Name=SECRET[,format=Bearer {value}]': a header whose value comes from `hivekeeper secret` (repeatable).",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log proxy activity to stderr."),
) -> None:
    """Serve an MCP server over Streamable HTTP (both protocol eras) and legacy SSE, or a remote one over stdio."""
    from hivekeeper.transport.backend import Era

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr)
    if era not in ("auto", "2026-07-28", "2025-11-25"):
        raise ConfigError(f"--era: expected auto, 2026-07-28 or 2025-11-25, got {era!r}")
    args = list(command or [])
    upstream_era: Era = era  # type: ignore[assignment]
    remote_stdio = args[:1] == ["stdio"] and len(args) == 2 and args[1].startswith(("http://", "https://"))
    if (header or header_secret) and target is None and not remote_stdio:
        raise ConfigError("--header/--header-secret: headers go to a remote server (--target URL or `stdio URL`)")
    headers = remote_headers(header, header_secret)
    if remote_stdio:
        if target is not None:
            raise ConfigError("`proxy stdio URL` takes the URL as its argument; drop --target")
        _run(_stdio_front(args[1], timeout=timeout, era=upstream_era, headers=headers))
        return
    if (target is None) == (not args):
        raise ConfigError("give either --target URL or `-- COMMAND [ARGS...]` (or `stdio URL`)")
    if target is not None and not target.startswith(("http://", "https://")):
        raise ConfigError(f"--target: expected an http(s) URL, got {target!r}")
    _run(
        _serve(
            args,
            target,
            host=host,
            port=port,
            timeout=timeout,
            max_body=max_body,
            session_ttl=session_ttl,
            allowed_origins=frozenset(allow_origin),
            era=upstream_era,
            headers=headers,
        )
    )


def remote_headers(plain: list[str], from_secrets: list[str]) -> dict[str, str]:
    """The headers of ``--header 'Name: value'`` and ``--header-secret 'Name=SECRET[,format=...]'``.

    Bad syntax is a ConfigError naming the flag; an unknown secret a NotFoundError naming it. A secret's
    value goes only into the returned headers, never into a message.
    """
    headers: dict[str, str] = {}
    for text in plain:
        name, colon, value = text.partition(":")
        if not colon or not _HEADER_NAME.match(name.strip()) or not _HEADER_VALUE.match(value):
            raise ConfigError(f"--header {text!r}: expected 'Name: value' (a token name, a one-line value)")
        headers[name.strip()] = value.strip()
    if not from_secrets:
        return headers
    from hivekeeper.secrets import default_store  # cryptography and file locks: only when a secret is named

    store = default_store()
    for text in from_secrets:
        name, equals, rest = text.partition("=")
        secret, _, option = rest.partition(",")
        template = option.removeprefix("format=") if option.startswith("format=") else None
        if not equals or not _HEADER_NAME.match(name.strip()) or not secret.strip() or (option and template is None):
            raise ConfigError(f"--header-secret {text!r}: expected 'Name=SECRET[,format=Bearer {{value}}]'")
        if template is not None and "{value}" not in template:
            raise ConfigError(f"--header-secret {text!r}: format must contain {{value}}")
        try:
            value = store.get(secret.strip())
        except HivekeeperError as exc:
            raise HivekeeperError(f"--header-secret {name.strip()}: {exc.message}", exit_code=exc.exit_code) from None
        if not _HEADER_VALUE.match(value):  # caught here: an HTTP library's complaint would quote the value
            raise ConfigError(f"--header-secret {name.strip()}: secret {secret.strip()!r} is not a one-line value")
        headers[name.strip()] = (template or "{value}").replace("{value}", value)
    return headers


def _run(main: object) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop on Linux
        asyncio.run(main)  # type: ignore[arg-type]
    else:
        uvloop.run(main)  # type: ignore[arg-type]


async def _serve(
    command: list[str],
    target: str | None,
    *,
    host: str,
    port: int,
    timeout: float,
    max_body: int,
    session_ttl: float,
    allowed_origins: frozenset[str],
    era: object,
    headers: dict[str, str],
) -> None:
    from hivekeeper.transport.backend import Backend, BackendUnavailable
    from hivekeeper.transport.stdio import StdioBackend, command_launcher

    sock = listening_socket(host, port, backlog=1024)
    backend: Backend
    if target is not None:
        from hivekeeper.transport.remote import HttpBackend

        backend = HttpBackend(target, timeout=timeout, era=era, headers=headers)  # type: ignore[arg-type]
    else:
        name = shlex.join([os.path.basename(command[0]), *command[1:]])
        if len(name) > 60:
            name = name[:57] + "..."
        backend = StdioBackend(command_launcher(command), name=name, timeout=timeout, era=era)  # type: ignore[arg-type]
    starting = asyncio.ensure_future(backend.start())
    if isinstance(backend, StdioBackend):
        # Let the server process start booting before the imports below block the loop for a while.
        launched = asyncio.ensure_future(backend.launched.wait())
        await asyncio.wait({starting, launched}, return_when=asyncio.FIRST_COMPLETED)
        launched.cancel()

    import uvicorn

    from hivekeeper.transport import FrontSettings, build_bridge

    settings = FrontSettings(
        max_body=max_body,
        session_ttl=session_ttl,
        request_timeout=timeout,
        loopback_only=host in LOOPBACK,
        allowed_origins=allowed_origins,
    )
    front = build_bridge(backend, settings)
    config = uvicorn.Config(
        front,
        log_level="warning",
        proxy_headers=False,
        server_header=False,
        date_header=False,
        lifespan="on",
        http="httptools",
        ws="none",  # MCP has no WebSocket transport: don't load a websockets implementation at start-up
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    # Accept connections while the backend starts: an early client's requests wait for the handshake instead
    # of being refused, so the first answer comes as soon as the server can give it. The URL line (the
    # "ready" signal) still waits for the backend.
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        try:
            await starting
        except BackendUnavailable as exc:
            raise UnavailableError(str(exc)) from None
        while not server.started and not serving.done():
            await asyncio.sleep(0.01)
        if server.started:
            bound_host, bound_port = sock.getsockname()[:2]
            shown = f"[{bound_host}]" if ":" in bound_host else bound_host
            sys.stdout.write(f"http://{shown}:{bound_port}/mcp\n")
            sys.stdout.flush()
        await serving
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await serving
        await backend.aclose()


async def _stdio_front(url: str, *, timeout: float, era: object, headers: dict[str, str]) -> None:
    from hivekeeper.transport import BackendUnavailable, HttpBackend, StdioFront

    backend = HttpBackend(url, timeout=timeout, era=era, headers=headers)  # type: ignore[arg-type]
    try:
        await backend.start()
    except BackendUnavailable as exc:
        await backend.aclose()
        raise UnavailableError(str(exc)) from None
    try:
        await StdioFront(backend).serve()
    finally:
        with contextlib.suppress(Exception):
            await backend.aclose()

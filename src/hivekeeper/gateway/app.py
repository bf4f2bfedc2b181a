"""Assembling a gateway from its config: backends, catalog, the chain, the front, and the HTTP routes
(``/mcp`` behind authentication, ``/metrics`` and ``/gateway/status`` beside it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace import TracerProvider
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from hivekeeper import paths
from hivekeeper.auth.identity import CURRENT_CALLER
from hivekeeper.auth.middleware import METADATA_PATH, Authenticator, AuthMiddleware
from hivekeeper.errors import ConfigError, HivekeeperError
from hivekeeper.gateway.audit import Audit, AuditLog
from hivekeeper.gateway.authorization import CedarAuthorization
from hivekeeper.gateway.catalog import KINDS, Catalog, Kind, Member
from hivekeeper.gateway.chain import DENIED, Call, Middleware, RpcError, build_chain
from hivekeeper.gateway.config import BackendConfig, GatewayConfig
from hivekeeper.gateway.filters import ToolFilter
from hivekeeper.gateway.handler import GatewayHandler, client_name
from hivekeeper.gateway.integrity import IntegrityGuard, PinStore
from hivekeeper.gateway.policy_reload import PolicyReloader
from hivekeeper.gateway.router import Router
from hivekeeper.gateway.sessions import RedisSessionStore
from hivekeeper.gateway.telemetry import Metrics, Telemetry, build_tracer
from hivekeeper.gateway.workloads import WorkloadWatcher, workload_url
from hivekeeper.policy.cedar import CedarPolicy
from hivekeeper.secrets import SecretStore, default_store
from hivekeeper.transport.backend import Backend
from hivekeeper.transport.front import FrontSettings, McpFront
from hivekeeper.transport.jsonrpc import Message, as_object
from hivekeeper.transport.remote import HttpBackend
from hivekeeper.transport.sessions import Session
from hivekeeper.transport.stdio import StdioBackend, command_launcher

if TYPE_CHECKING:  # imported when search is configured: the index pulls in the embedding model's libraries
    from hivekeeper.gateway.search import ToolSearch

log = logging.getLogger(__name__)


def build_backend(config: BackendConfig, secrets: SecretStore, *, url: str | None = None) -> Backend:
    """A stdio or URL backend with its credentials resolved from the secret store; the values go only
    into the backend's own environment or headers, never into config, logs or errors. A workload backend
    is a URL backend at the workload's ``url``."""
    if config.command is not None:
        env = {**config.env, **{var: secrets.get(name) for var, name in config.env_secrets.items()}}
        launcher = command_launcher(config.command, env=env or None)
        return StdioBackend(launcher, name=config.name, timeout=config.timeout, era=config.era)
    url = url or config.url
    if url is None:
        raise ConfigError(f"backend {config.name}: workload {config.workload!r} has no URL yet")
    headers = dict(config.headers)
    for injected in config.secret_headers:
        headers[injected.header] = injected.format.replace("{value}", secrets.get(injected.secret))
    return HttpBackend(url, name=config.name, timeout=config.timeout, era=config.era, headers=headers)


class Gateway:
    """One governed MCP endpoint over a group of backends."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        secrets: SecretStore | None = None,
        mcp_path: str = "/mcp",
        reload_on_sighup: bool = False,
    ) -> None:
        """``reload_on_sighup`` also reloads the policy file on SIGHUP: for a process serving this gateway alone
        (``hivekeeper gateway``), since a signal handler is the whole process's."""
        self.config = config
        self.mcp_path = mcp_path
        self.reload_on_sighup = reload_on_sighup
        secrets = secrets if secrets is not None else default_store()
        self.metrics = Metrics() if config.telemetry.metrics else None
        self.audit_log = AuditLog(config.audit)
        self.policy_reloader = self._policy_reloader()
        policy = self.policy_reloader.policy if self.policy_reloader is not None else self._inline_policy()
        guard = None
        if config.integrity.enabled:
            guard = IntegrityGuard(
                config.integrity, PinStore(paths.ensure(config.integrity_directory())), alert=self._alert
            )
        # backend name → (workload, its URL now), for the backends that stand for a workload of this host
        declared = {
            b.name: (b.workload, workload_url(b.workload, f"backend {b.name}: workload"))
            for b in config.backends
            if b.workload is not None
        }
        members = [
            Member(
                build_backend(b, secrets, url=declared[b.name][1] if b.name in declared else None), ToolFilter(b.tools)
            )
            for b in config.backends
        ]
        self.catalog = Catalog(
            members,
            conflict=config.conflict,
            separator=config.separator,
            unavailable=config.unavailable,
            guard=guard,
            on_changed=self._list_changed,
            on_resource_updated=self._resource_updated,
        )
        self.workloads: WorkloadWatcher | None = None
        if declared or config.group is not None:
            configs = {b.name: b for b in config.backends}

            def workload_backend(name: str, url: str) -> Backend:
                # A group member is a plain URL backend; a declared one keeps its headers and timeouts.
                return build_backend(configs.get(name) or BackendConfig(name=name, url=url), secrets, url=url)

            self.workloads = WorkloadWatcher(
                self.catalog,
                group=config.group,
                declared=declared,
                make_backend=workload_backend,
            )
        tracing = build_tracer(config.telemetry)
        self._tracer_provider: TracerProvider | None = tracing[1] if tracing else None
        links: list[Middleware] = [Audit(self.audit_log)] if config.audit.file or config.audit.stdout else []
        if self.metrics is not None or tracing is not None:
            links.append(Telemetry(self.metrics, tracing[0] if tracing else None))
        self.search: ToolSearch | None = None
        if config.search is not None:
            # Before authorization: a meta call_tool is authorized as the tool it names.
            from hivekeeper.gateway.search import ToolSearch
            from hivekeeper.search import ToolIndex

            index = ToolIndex(cache_dir=paths.cache_dir() / "search")
            self.search = ToolSearch(config.search, index, self.catalog, self.metrics)
            links.append(self.search)
        self.authorization = CedarAuthorization(policy, gateway_name=config.name) if policy is not None else None
        if self.authorization is not None:
            links.append(self.authorization)
        front = config.front
        self.sessions = RedisSessionStore(front.redis_url) if front.redis_url else None
        self.handler = GatewayHandler(build_chain(links, Router(self.catalog)), name=config.name)
        self.front = McpFront(
            self.handler,
            FrontSettings(
                loopback_only=front.loopback_only,
                allowed_origins=frozenset(front.allowed_origins),
                session_ttl=front.session_ttl,
            ),
            session_store=self.sessions,
        )
        self.authenticator = Authenticator(config.auth) if config.auth is not None else None
        if self.metrics is not None:
            self.metrics.active_sessions.set_function(lambda: self.front.session_count)

    def _policy_reloader(self) -> PolicyReloader | None:
        """For a policy file: what keeps its newest good version in force (reading it now)."""
        authorization = self.config.authorization
        if authorization is None or authorization.policy_file is None:
            return None
        return PolicyReloader(
            authorization.policy_file,
            apply=self._policy_reloaded,
            interval=authorization.reload_interval,
            metrics=self.metrics,
        )

    def _inline_policy(self) -> CedarPolicy | None:
        authorization = self.config.authorization
        if authorization is None or authorization.policy is None:
            return None
        return CedarPolicy(authorization.policy, "authorization.policy")

    async def _policy_reloaded(self, policy: CedarPolicy) -> None:
        """Put a reloaded policy in force, and tell clients their lists may have changed with it."""
        assert self.authorization is not None  # a policy file makes one
        self.authorization.policy = policy
        for kind in KINDS:
            await self._list_changed(kind)

    def _alert(self, event: dict[str, object]) -> None:
        self.audit_log.emit(event)
        if self.metrics is not None:
            self.metrics.integrity_alerts.labels(str(event.get("backend"))).inc()

    async def _list_changed(self, kind: Kind) -> None:
        await self.front.broadcast({"jsonrpc": "2.0", "method": f"notifications/{kind}/list_changed"})

    async def _resource_updated(self, message: Message) -> None:
        # The front passes it to the sessions subscribed to its URI; the policy in force says which of those
        # may still hear of it (it may have changed since they subscribed).
        authorization, uri = self.authorization, as_object(message.get("params")).get("uri")
        if authorization is None or not isinstance(uri, str):
            await self.front.broadcast(message)
            return

        def may_hear(session: Session) -> bool:
            holder = self.handler.holder(session)
            return holder is not None and authorization.may_hear_of(holder, client_name(session), uri)

        await self.front.broadcast(message, to=may_hear)

    async def start(self) -> None:
        await self.front.start()
        await self.catalog.start()
        if self.workloads is not None:
            await self.workloads.start()
        if self.policy_reloader is not None:
            await self.policy_reloader.start(on_sighup=self.reload_on_sighup)
        elif self.reload_on_sighup:
            # SIGHUP's default action ends the process: an operator asking for a reload must not lose the gateway
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._nothing_to_reload)

    def _nothing_to_reload(self) -> None:
        log.warning(
            "gateway %s: SIGHUP ignored: there is no policy_file to reload (an inline policy or none changes with a"
            " restart)",
            self.config.name,
        )

    async def aclose(self) -> None:
        if self.policy_reloader is not None:
            await self.policy_reloader.aclose()
        elif self.reload_on_sighup:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        if self.workloads is not None:
            await self.workloads.aclose()
        await self.front.aclose()
        await self.catalog.aclose()
        if self.sessions is not None:
            await self.sessions.aclose()
        self.audit_log.close()
        if self._tracer_provider is not None:
            self._tracer_provider.shutdown()

    # ---- HTTP ---------------------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        """The MCP endpoints (authenticated), the OAuth metadata, ``/metrics`` and ``/gateway/status``."""
        endpoints: list[tuple[str, ASGIApp]] = [(route.path, route.app) for route in self.front.routes()]  # type: ignore[attr-defined]
        authenticator = self.authenticator
        if authenticator is None:  # anonymous: every caller is ANONYMOUS, nothing to check or advertise
            routes: list[BaseRoute] = [Route(path, endpoint) for path, endpoint in endpoints]
        else:
            routes = [
                Route(path, AuthMiddleware(endpoint, authenticator, mcp_path=self.mcp_path))
                for path, endpoint in endpoints
            ]
            metadata = AuthMiddleware(_not_found, authenticator, mcp_path=self.mcp_path)
            routes.append(Route(METADATA_PATH, metadata))
            routes.append(Route(METADATA_PATH + "{rest:path}", metadata))
        if self.config.search is not None:
            select: ASGIApp = _asgi(self._select)
            routes.append(Route("/gateway/select", AuthMiddleware(select, authenticator) if authenticator else select))
        routes.append(Route("/gateway/status", self._status))
        if self.metrics is not None:
            routes.append(Route("/metrics", self._metrics))
        return routes

    @contextlib.asynccontextmanager
    async def lifespan(self, _: Starlette) -> AsyncIterator[None]:
        """Starts the backends with the hosting app and stops them with it."""
        await self.start()
        try:
            yield
        finally:
            await self.aclose()

    def app(self) -> Starlette:
        """The gateway alone: its routes plus ``/healthz`` for probes."""
        return Starlette(routes=[*self.routes(), Route("/healthz", self._health)], lifespan=self.lifespan)

    def _backend_status(self) -> list[dict[str, Any]]:
        rows = self.catalog.status()
        if self.metrics is not None:
            for row in rows:
                self.metrics.backend_up.labels(row["name"]).set(1 if row["up"] else 0)
        return rows

    async def _select(self, request: Request) -> JSONResponse:
        """Prompt-aware selection over HTTP: ``{"request": text}`` or ``{"messages": [...]}`` (+ ``"k"``) in,
        the selected tools' definitions out, as the caller's policies allow, with their token cost against
        the caller's whole list (``{"selected": n, "full": m}``)."""
        from hivekeeper.gateway.search import K_META_KEY, REQUEST_META_KEY, TOKENS_META_KEY
        from hivekeeper.search import request_text

        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            text = request_text(body["messages"]) if "messages" in body else body.get("request")
            if text is None:
                raise ValueError('give the user\'s "request" or the chat "messages"')
        except (ValueError, HivekeeperError) as exc:
            return JSONResponse({"error": f"bad request body: {exc}"}, status_code=400)
        meta = {REQUEST_META_KEY: text, K_META_KEY: body.get("k", self.config.search.k if self.config.search else 5)}
        try:
            result = await self.handler.chain(Call("tools/list", {"_meta": meta}, CURRENT_CALLER.get()))
        except RpcError as exc:
            return JSONResponse({"error": exc.message}, status_code=403 if exc.code == DENIED else 400)
        return JSONResponse({"tools": result["tools"], "tokens": result["_meta"][TOKENS_META_KEY]})

    async def _status(self, _: Request) -> JSONResponse:
        status: dict[str, Any] = {"name": self.config.name, "backends": self._backend_status()}
        if self.authorization is not None:
            policy = self.authorization.policy
            reload_error = self.policy_reloader.error if self.policy_reloader is not None else None
            status["policy"] = {"source": policy.source, "version": policy.version, "reload_error": reload_error}
        return JSONResponse(status)

    async def _health(self, _: Request) -> JSONResponse:
        """For probes: 200 when every backend answers, 503 (naming the ones down) otherwise."""
        down = [row["name"] for row in self._backend_status() if not row["up"]]
        return JSONResponse({"status": "degraded" if down else "ok", "down": down}, status_code=503 if down else 200)

    async def _metrics(self, _: Request) -> Response:
        assert self.metrics is not None
        self._backend_status()
        return Response(self.metrics.exposition(), media_type="text/plain; version=0.0.4")


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    await JSONResponse({"error": "not found"}, status_code=404)(scope, receive, send)


def _asgi(endpoint: Callable[[Request], Awaitable[Response]]) -> ASGIApp:
    """A request/response endpoint as a bare ASGI app (to wrap in ASGI middleware)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = await endpoint(Request(scope, receive))
        await response(scope, receive, send)

    return app

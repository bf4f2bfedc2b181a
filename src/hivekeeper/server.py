"""The composition root of ``hivekeeper serve``: one ASGI app mounting every part that is configured."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import BaseRoute, Route

from hivekeeper import __version__
from hivekeeper.config import load_model
from hivekeeper.gateway.config import GatewayConfig
from hivekeeper.portal import PortalSettings, build_portal_routes
from hivekeeper.registry import RegistrySettings, open_registry


class ServerConfig(BaseModel):
    """Top-level ``hivekeeper serve`` configuration (YAML)."""

    model_config = ConfigDict(extra="forbid")

    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    portal: PortalSettings = Field(default_factory=PortalSettings)
    gateway: GatewayConfig | None = Field(
        default=None, description="Serve this gateway at /mcp (same fields as `hivekeeper gateway --config`)."
    )


def load_server_config(path: str | None) -> ServerConfig:
    return load_model(Path(path), ServerConfig) if path else ServerConfig()


async def _health(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "version": __version__})


async def _status_page(_: Request) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>hivekeeper</title></head>"
        f"<body><main><h1>hivekeeper {__version__}</h1><p>Status: serving.</p></main></body></html>"
    )


def build_app(config: ServerConfig) -> Starlette:
    routes: list[BaseRoute] = [Route("/healthz", _health)]
    registry = open_registry(config.registry)
    routes += registry.api.routes()
    routes += build_portal_routes(registry, config.portal) if config.portal.enabled else [Route("/", _status_page)]
    lifespan = None
    if config.gateway is not None:
        from hivekeeper.gateway.app import Gateway

        gateway = Gateway(config.gateway)
        routes += gateway.routes()
        lifespan = gateway.lifespan
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.registry = registry
    return app

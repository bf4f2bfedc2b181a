"""The composition root of ``hivekeeper serve``: one ASGI app mounting every part that is configured."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from hivekeeper import __version__
from hivekeeper.config import load_model


class ServerConfig(BaseModel):
    """Top-level ``hivekeeper serve`` configuration (YAML)."""

    model_config = ConfigDict(extra="forbid")


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
    routes = [Route("/healthz", _health), Route("/", _status_page)]
    return Starlette(routes=routes)

"""The registry HTTP API, compatible with the official MCP Registry (``/v0.1`` and ``/v0``).

Errors use the official registry's problem shape (``title``, ``status``, ``detail``, ``errors`` with a
``location`` per field) so existing registry clients show them unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from http import HTTPStatus
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hivekeeper.errors import ConfigError, ConflictError, DeniedError, HivekeeperError, NotFoundError
from hivekeeper.registry.curation import Status, TrustTier
from hivekeeper.registry.openapi import openapi_document
from hivekeeper.registry.settings import PublishToken, RegistrySettings
from hivekeeper.registry.store import DEFAULT_LIMIT, RegistryStore
from hivekeeper.registry.validation import ServerJsonError

API_PREFIXES = ("/v0.1", "/v0")
Handler = Callable[[Request], Awaitable[Response]]


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class ApiError(Exception):
    def __init__(self, status: int, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.errors = status, detail, errors or []


def problem(status: int, detail: str, errors: list[dict[str, Any]] | None = None) -> Response:
    body: dict[str, Any] = {"title": HTTPStatus(status).phrase, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    return Response(orjson.dumps(body), status_code=status, media_type="application/problem+json")


def _api_error(exc: HivekeeperError) -> ApiError:
    if isinstance(exc, ServerJsonError):
        errors = [{"location": f"body.{p.location}", "message": p.message} for p in exc.problems]
        return ApiError(422, exc.message, errors)
    if isinstance(exc, NotFoundError):
        return ApiError(404, exc.message)
    if isinstance(exc, ConflictError):
        return ApiError(409, exc.message)
    if isinstance(exc, DeniedError):
        return ApiError(403, exc.message)
    if isinstance(exc, ConfigError):
        location, _, message = exc.message.partition(": ")
        return ApiError(400, exc.message, [{"location": f"query.{location}", "message": message}] if message else [])
    return ApiError(500, exc.message)


def _guarded(handler: Handler) -> Handler:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return problem(exc.status, exc.detail, exc.errors)
        except HivekeeperError as exc:
            error = _api_error(exc)
            return problem(error.status, error.detail, error.errors)

    return endpoint


def _query_bool(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise ApiError(
            400, f"{name} must be true or false", [{"location": f"query.{name}", "message": "not a boolean"}]
        )
    return value in ("true", "1")


def _query_limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    try:
        return int(raw)
    except ValueError:
        raise ApiError(
            400, f"limit must be an integer, not {raw!r}", [{"location": "query.limit", "message": "not an integer"}]
        ) from None


def _query_time(request: Request) -> datetime | None:
    raw = request.query_params.get("updated_since")
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ApiError(
            400,
            f"updated_since must be an RFC 3339 date-time with a zone, not {raw!r}",
            [{"location": "query.updated_since", "message": "not an RFC 3339 date-time"}],
        )
    return moment


class RegistryApi:
    """The Starlette routes of one registry; ``store`` and ``settings`` are shared with the portal."""

    def __init__(self, store: RegistryStore, settings: RegistrySettings) -> None:
        self.store = store
        self.settings = settings
        self._tokens = settings.tokens()

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [Route("/openapi.json", self.openapi)]
        for prefix in API_PREFIXES:
            routes += [
                Route(f"{prefix}/health", self.health),
                Route(f"{prefix}/openapi.json", self.openapi),
                Route(f"{prefix}/servers", _guarded(self.list_servers)),
                Route(f"{prefix}/servers/{{name:path}}/versions", _guarded(self.list_versions)),
                Route(f"{prefix}/servers/{{name:path}}/versions/{{version}}", _guarded(self.get_version)),
                Route(
                    f"{prefix}/servers/{{name:path}}/versions/{{version}}/status",
                    _guarded(self.patch_status),
                    methods=["PATCH"],
                ),
                Route(f"{prefix}/servers/{{name:path}}/status", _guarded(self.patch_status), methods=["PATCH"]),
                Route(f"{prefix}/publish", _guarded(self.publish), methods=["POST"]),
            ]
        return routes

    async def health(self, _: Request) -> Response:
        return JSON({"status": "ok"})

    async def openapi(self, _: Request) -> Response:
        return JSON(openapi_document())

    async def list_servers(self, request: Request) -> Response:
        params = request.query_params
        page = await run_in_threadpool(
            self.store.list,
            cursor=params.get("cursor") or None,
            limit=_query_limit(request),
            search=params.get("search") or None,
            updated_since=_query_time(request),
            version=params.get("version") or None,
            include_deleted=_query_bool(request, "include_deleted"),
        )
        return JSON(page.to_response())

    async def list_versions(self, request: Request) -> Response:
        entries = await run_in_threadpool(
            self.store.versions,
            request.path_params["name"],
            include_deleted=_query_bool(request, "include_deleted"),
        )
        return JSON({"servers": [entry.to_response() for entry in entries], "metadata": {"count": len(entries)}})

    async def get_version(self, request: Request) -> Response:
        entry = await run_in_threadpool(
            self.store.get,
            request.path_params["name"],
            request.path_params["version"],
            include_deleted=_query_bool(request, "include_deleted"),
        )
        return JSON(entry.to_response())

    def _authorise(self, request: Request, server_name: str) -> PublishToken:
        header = request.headers.get("authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise ApiError(401, "missing bearer token: send 'Authorization: Bearer <token>'")
        token = next((token for token in self._tokens if token.matches(presented.strip())), None)
        if token is None:
            raise ApiError(401, "invalid or expired registry token")
        if not token.allows(server_name):
            raise ApiError(403, f"this token may not publish {server_name!r} (allowed: {', '.join(token.namespaces)})")
        return token

    async def _json_body(self, request: Request) -> Any:
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise ApiError(413, f"request body of {declared} bytes exceeds the {limit}-byte limit")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise ApiError(413, f"request body exceeds the {limit}-byte limit")
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ApiError(
                400, f"request body is not valid JSON: {exc}", [{"location": "body", "message": str(exc)}]
            ) from None

    async def publish(self, request: Request) -> Response:
        # Authenticate before reading the body: an anonymous caller learns nothing and costs nothing.
        if not request.headers.get("authorization"):
            raise ApiError(401, "missing bearer token: send 'Authorization: Bearer <token>'")
        document = await self._json_body(request)
        name = document.get("name") if isinstance(document, dict) else None
        token = self._authorise(request, str(name or ""))
        entry = await run_in_threadpool(self.store.publish, document, tier=token.tier, source=f"publish:{token.label}")
        return JSON(entry.to_response())

    async def patch_status(self, request: Request) -> Response:
        name = request.path_params["name"]
        self._authorise(request, name)
        body = await self._json_body(request)
        status_text = body.get("status") if isinstance(body, dict) else None
        if status_text not in {str(status) for status in Status}:
            raise ApiError(
                422,
                "status must be one of active, deprecated, deleted",
                [{"location": "body.status", "message": f"unknown status {status_text!r}"}],
            )
        message = body.get("statusMessage")
        if message is not None and (not isinstance(message, str) or len(message) > 500):
            raise ApiError(
                422,
                "statusMessage must be a string of at most 500 characters",
                [{"location": "body.statusMessage", "message": "too long or not a string"}],
            )
        version = request.path_params.get("version")
        entries = await run_in_threadpool(self.store.set_status, name, version, Status(status_text), message)
        if version is not None:
            return JSON(entries[0].to_response())
        return JSON({"updatedCount": len(entries), "servers": [entry.to_response() for entry in entries]})


def build_registry_api(store: RegistryStore, settings: RegistrySettings) -> Starlette:
    """A standalone ASGI app serving only the registry API (``hivekeeper serve`` mounts the routes)."""
    return Starlette(routes=RegistryApi(store, settings).routes())


__all__ = ["API_PREFIXES", "RegistryApi", "TrustTier", "build_registry_api", "problem"]

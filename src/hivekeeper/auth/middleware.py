"""ASGI middleware in front of the MCP endpoint: authenticates every request, answers 401 with the
RFC 9728 challenge, serves the protected-resource metadata, and strips client credentials so nothing
behind it (least of all a backend) can ever see the client's token."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from hivekeeper.auth.apikeys import ApiKeys
from hivekeeper.auth.config import AuthConfig
from hivekeeper.auth.identity import ANONYMOUS, CURRENT_CALLER, AuthenticationError, Caller
from hivekeeper.auth.jwt import JwksCache, JwtValidator

METADATA_PATH = "/.well-known/oauth-protected-resource"
CALLER_KEY = "hivekeeper.caller"
_CREDENTIAL_HEADERS = {b"authorization", b"x-api-key"}


def caller_of(scope: Scope) -> Caller:
    """The caller the middleware stored in the request scope (anonymous when auth is off)."""
    state: dict[str, Any] = scope.get("state") or {}
    caller = state.get(CALLER_KEY)
    return caller if isinstance(caller, Caller) else ANONYMOUS


class Authenticator:
    """Turns request headers into a ``Caller``: bearer JWT, bearer/``X-API-Key`` static key, or anonymous."""

    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        self.api_keys = ApiKeys(config.api_keys)
        self.jwt: JwtValidator | None = None
        if config.oidc is not None:
            oidc = config.oidc
            self.jwt = JwtValidator(
                JwksCache(str(oidc.jwks_url), ttl=oidc.jwks_cache_seconds),
                issuer=oidc.issuer,
                audience=oidc.audience,
                algorithms=oidc.algorithms,
                subject_claim=oidc.subject_claim,
            )

    async def authenticate(self, headers: Headers, resource: str) -> Caller:
        api_key = headers.get("x-api-key")
        if api_key is not None:
            return self._by_key(api_key)
        authorization = headers.get("authorization")
        if authorization is None:
            if self.config.anonymous:
                return ANONYMOUS
            raise AuthenticationError("authentication required", error=None)
        scheme, _, credentials = authorization.partition(" ")
        credentials = credentials.strip()
        if scheme.lower() != "bearer" or not credentials:
            raise AuthenticationError("expected an Authorization: Bearer token", error="invalid_request")
        if self.jwt is not None and credentials.count(".") == 2:
            audience = None if self.jwt.audience else [resource]
            return await self.jwt.validate(credentials, audience=audience)
        return self._by_key(credentials)

    def _by_key(self, key: str) -> Caller:
        caller = self.api_keys.lookup(key) if self.api_keys else None
        if caller is None:
            raise AuthenticationError("unknown API key")
        return caller

    def metadata(self, resource: str) -> dict[str, Any]:
        """RFC 9728 protected-resource metadata."""
        servers = self.config.authorization_servers or ([self.config.oidc.issuer] if self.config.oidc else [])
        document: dict[str, Any] = {
            "resource": resource,
            "authorization_servers": servers,
            "bearer_methods_supported": ["header"],
            "resource_name": "hivekeeper gateway",
        }
        if self.config.scopes_supported:
            document["scopes_supported"] = self.config.scopes_supported
        return document


class AuthMiddleware:
    """Authenticates every HTTP request to ``app``; only the protected-resource metadata is public."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator, *, mcp_path: str = "/mcp") -> None:
        self.app = app
        self.authenticator = authenticator
        self.mcp_path = mcp_path

    def _base_url(self, scope: Scope) -> str:
        headers = Headers(scope=scope)
        host = headers.get("host") or "{}:{}".format(*(scope.get("server") or ("localhost", 80)))
        return f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}"

    def _resource(self, scope: Scope) -> str:
        return self.authenticator.config.resource or self._base_url(scope) + self.mcp_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == METADATA_PATH or path.startswith(METADATA_PATH + "/"):
            await _send_json(send, 200, self.authenticator.metadata(self._resource(scope)))
            return
        resource = self._resource(scope)
        try:
            caller = await self.authenticator.authenticate(Headers(scope=scope), resource)
        except AuthenticationError as exc:
            challenge = f'Bearer resource_metadata="{self._base_url(scope)}{METADATA_PATH}"'
            if exc.error:
                description = exc.message.replace('"', "'")
                challenge += f', error="{exc.error}", error_description="{description}"'
            await _send_json(
                send,
                401,
                {"jsonrpc": "2.0", "id": None, "error": {"code": -32001, "message": exc.message}},
                [(b"www-authenticate", challenge.encode())],
            )
            return
        scope = dict(scope)
        scope["headers"] = [(k, v) for k, v in scope["headers"] if k not in _CREDENTIAL_HEADERS]
        scope["state"] = {**(scope.get("state") or {}), CALLER_KEY: caller}
        token = CURRENT_CALLER.set(caller)
        try:
            await self.app(scope, receive, send)
        finally:
            CURRENT_CALLER.reset(token)


async def _send_json(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})

"""Inbound authentication against real signed tokens and a JWKS served over HTTP."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hivekeeper.auth.apikeys import digest
from hivekeeper.auth.config import AuthConfig
from hivekeeper.auth.identity import CURRENT_CALLER, AuthenticationError
from hivekeeper.auth.jwt import JwksCache, JwtValidator
from hivekeeper.auth.middleware import Authenticator, AuthMiddleware
from tests.gateway.gateway_helpers import ISSUER, KeySet, jwks_server

RESOURCE = "http://testserver/mcp"


@pytest.fixture(scope="module")
def keys() -> KeySet:
    return KeySet("k1")


@pytest.fixture(scope="module")
def stranger() -> KeySet:
    return KeySet("k1")  # same kid, different key: a forgery


async def test_valid_token_yields_caller_with_claims(keys: KeySet) -> None:
    with jwks_server(keys) as (url, _):
        validator = JwtValidator(JwksCache(url), issuer=ISSUER, audience=[RESOURCE])
        caller = await validator.validate(keys.token(audience=RESOURCE, groups=["eng"], email="a@x.test"))
    assert (caller.subject, caller.method, caller.groups) == ("alice", "jwt", ("eng",))
    assert caller.claims["email"] == "a@x.test"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda k, s: k.token(audience=RESOURCE, lifetime=-120), "token expired"),
        (lambda k, s: s.token(audience=RESOURCE), "signature does not verify"),
        (lambda k, s: k.token(audience="http://other.test/mcp"), "audience is not this resource"),
        (lambda k, s: k.token(audience=RESOURCE, iss="https://evil.test"), "issuer is not"),
        (lambda k, s: "not.a.token", "malformed token"),
        (
            lambda k, s: jwt.encode({"sub": "x", "aud": RESOURCE, "iss": ISSUER, "exp": time.time() + 60}, "k" * 32),
            "algorithm 'HS256' is not accepted",
        ),
    ],
    ids=["expired", "forged", "wrong-audience", "wrong-issuer", "garbage", "hs256-confusion"],
)
async def test_bad_tokens_are_refused_with_the_reason(
    keys: KeySet, stranger: KeySet, make: object, message: str
) -> None:
    with jwks_server(keys) as (url, _):
        validator = JwtValidator(JwksCache(url), issuer=ISSUER, audience=[RESOURCE])
        with pytest.raises(AuthenticationError, match=message):
            await validator.validate(make(keys, stranger))  # type: ignore[operator]


async def test_jwks_is_cached_and_refetched_for_an_unknown_kid(keys: KeySet) -> None:
    rotated = KeySet("k2")
    with jwks_server(keys) as (url, hits):
        cache = JwksCache(url, min_refresh=0.0)
        validator = JwtValidator(cache, issuer=ISSUER, audience=[RESOURCE])
        for _ in range(5):
            await validator.validate(keys.token(audience=RESOURCE))
        assert hits["count"] == 1
        with pytest.raises(AuthenticationError, match="unknown key id 'k2'"):
            await validator.validate(rotated.token(audience=RESOURCE))
        assert hits["count"] == 2  # one refetch looking for k2


def _client(config: AuthConfig) -> httpx.AsyncClient:
    async def whoami(_: Request) -> JSONResponse:
        caller = CURRENT_CALLER.get()
        return JSONResponse({"subject": caller.subject, "method": caller.method})

    async def headers(request: Request) -> JSONResponse:
        return JSONResponse(dict(request.headers))

    app = AuthMiddleware(
        Starlette(routes=[Route("/mcp", whoami, methods=["GET", "POST"]), Route("/headers", headers)]),
        Authenticator(config),
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_middleware_challenges_with_resource_metadata(keys: KeySet) -> None:
    with jwks_server(keys) as (url, _):
        config = AuthConfig.model_validate({"oidc": {"issuer": ISSUER, "jwks_url": url}})
        async with _client(config) as client:
            missing = await client.post("/mcp")
            assert missing.status_code == 401
            challenge = missing.headers["www-authenticate"]
            assert challenge == 'Bearer resource_metadata="http://testserver/.well-known/oauth-protected-resource"'

            expired = await client.post(
                "/mcp", headers={"authorization": f"Bearer {keys.token(audience=RESOURCE, lifetime=-99)}"}
            )
            assert expired.status_code == 401
            assert 'error="invalid_token"' in expired.headers["www-authenticate"]
            assert expired.json()["error"]["message"] == "token expired"

            # RFC 8707: with no audience configured, the token must be minted for this very resource URL.
            other = keys.token(audience="http://testserver/other")
            assert (await client.post("/mcp", headers={"authorization": f"Bearer {other}"})).status_code == 401
            good = await client.post("/mcp", headers={"authorization": f"Bearer {keys.token(audience=RESOURCE)}"})
            assert good.json() == {"subject": "alice", "method": "jwt"}

            # The client's token never travels further than the middleware.
            seen = await client.get("/headers", headers={"authorization": f"Bearer {keys.token(audience=RESOURCE)}"})
            assert "authorization" not in seen.json()

            metadata = (await client.get("/.well-known/oauth-protected-resource")).json()
            assert metadata == {
                "resource": RESOURCE,
                "authorization_servers": [ISSUER],
                "bearer_methods_supported": ["header"],
                "resource_name": "hivekeeper gateway",
            }


async def test_api_keys_and_anonymous() -> None:
    config = AuthConfig.model_validate(
        {"api_keys": [{"name": "ci", "sha256": digest("s3cret"), "claims": {"team": "qa"}}]}
    )
    async with _client(config) as client:
        assert (await client.post("/mcp", headers={"x-api-key": "s3cret"})).json() == {
            "subject": "ci",
            "method": "api_key",
        }
        assert (await client.post("/mcp", headers={"authorization": "Bearer s3cret"})).json()["subject"] == "ci"
        wrong = await client.post("/mcp", headers={"x-api-key": "guess"})
        assert (wrong.status_code, wrong.json()["error"]["message"]) == (401, "unknown API key")
        assert (await client.post("/mcp")).status_code == 401
    async with _client(AuthConfig(anonymous=True)) as client:
        assert (await client.post("/mcp")).json() == {"subject": "anonymous", "method": "anonymous"}


def test_config_without_any_way_in_is_rejected() -> None:
    with pytest.raises(ValueError, match="nobody can get in"):
        AuthConfig.model_validate({})

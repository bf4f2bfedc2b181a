"""Bearer JWT validation against a JWKS fetched over HTTP, cached, refreshed when an unknown key id shows up.

The audience check is the RFC 8707 resource check: a token minted for another resource (another MCP
server, another API) is refused even when its signature is good, so a token can never be replayed here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import httpx
import jwt
from jwt import PyJWK, PyJWKSet

from hivekeeper.auth.identity import AuthenticationError, Caller

# Asymmetric algorithms only: a JWKS publishes public keys, and accepting HS* would let anyone holding the
# public key forge tokens ("alg confusion").
VALIDATED_CACHE_SIZE = 4096  # distinct (token, audience) pairs remembered until their expiry
DEFAULT_ALGORITHMS: tuple[str, ...] = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")


class JwksCache:
    """Fetches a JWKS document and keeps it for ``ttl`` seconds; an unknown ``kid`` forces one refetch,
    at most every ``min_refresh`` seconds so a flood of forged kids cannot hammer the identity provider."""

    def __init__(
        self,
        url: str,
        *,
        ttl: float = 300.0,
        min_refresh: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url
        self.ttl = ttl
        self.min_refresh = min_refresh
        self._client = client
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> PyJWK:
        age = time.monotonic() - self._fetched_at
        if age > self.ttl or (kid not in self._keys and age > self.min_refresh):
            await self._refresh()
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        found = self._keys.get(kid or "")
        if found is None:
            raise AuthenticationError(f"token signed with unknown key id {kid!r}")
        return found

    async def _refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._fetched_at <= self.min_refresh:
                return  # another task refreshed while we waited
            try:
                client = self._client or httpx.AsyncClient(timeout=5.0)
                try:
                    response = await client.get(self.url)
                finally:
                    if self._client is None:
                        await client.aclose()
                response.raise_for_status()
                key_set = PyJWKSet.from_dict(response.json())
            except (httpx.HTTPError, ValueError, jwt.PyJWKSetError) as exc:
                if self._keys:  # keep serving with the keys we have; the provider is only briefly away
                    self._fetched_at = time.monotonic()
                    return
                raise AuthenticationError(f"cannot fetch signing keys from {self.url}: {exc}") from exc
            self._keys = {key.key_id or "": key for key in key_set.keys}
            self._fetched_at = time.monotonic()


class JwtValidator:
    """Validates a bearer token: signature (JWKS), ``iss``, ``aud`` (the resource), ``exp``/``nbf``."""

    def __init__(
        self,
        jwks: JwksCache,
        *,
        issuer: str,
        audience: Sequence[str],
        algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
        subject_claim: str = "sub",
        leeway: float = 30.0,
    ) -> None:
        self.jwks = jwks
        self.issuer = issuer
        self.audience = list(audience)
        self.algorithms = list(algorithms)
        self.subject_claim = subject_claim
        self.leeway = leeway
        self._validated: dict[tuple[str, tuple[str, ...]], tuple[float, Caller]] = {}

    async def validate(self, token: str, *, audience: Sequence[str] | None = None) -> Caller:
        """``audience`` overrides the configured one (the gateway passes the URL the request came to).

        A token already validated for the same audience is answered from a small cache until it expires:
        clients send the same token with every request, and verifying its signature is the costly part.
        """
        key = (token, tuple(audience or ()))
        cached = self._validated.get(key)
        if cached is not None and cached[0] > time.time():
            return cached[1]
        caller = await self._validate(token, audience)
        if len(self._validated) >= VALIDATED_CACHE_SIZE:
            self._validated.pop(next(iter(self._validated)))
        self._validated[key] = (float(caller.claims["exp"]) + self.leeway, caller)
        return caller

    async def _validate(self, token: str, audience: Sequence[str] | None) -> Caller:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise AuthenticationError(f"malformed token: {exc}") from exc
        algorithm = header.get("alg")
        if algorithm not in self.algorithms:
            raise AuthenticationError(f"token algorithm {algorithm!r} is not accepted")
        key = await self.jwks.key(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=self.algorithms,
                audience=list(audience) if audience else self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthenticationError("token expired") from exc
        except jwt.InvalidAudienceError as exc:
            expected = ", ".join(audience or self.audience)
            raise AuthenticationError(f"token audience is not this resource ({expected})") from exc
        except jwt.InvalidIssuerError as exc:
            raise AuthenticationError(f"token issuer is not {self.issuer}") from exc
        except jwt.InvalidSignatureError as exc:
            raise AuthenticationError("token signature does not verify") from exc
        except jwt.InvalidTokenError as exc:
            raise AuthenticationError(f"invalid token: {exc}") from exc
        subject = claims.get(self.subject_claim)
        if not isinstance(subject, str) or not subject:
            raise AuthenticationError(f"token has no {self.subject_claim!r} claim")
        return Caller(subject=subject, method="jwt", claims=claims)

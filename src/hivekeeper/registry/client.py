"""Reading and publishing the catalogue, locally (the database) or remotely (any official-API registry).

Both answer with the official response shapes, so callers (the CLI, the workloads resolver) do not
care which one they hold.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from hivekeeper.errors import ConfigError, ConflictError, DeniedError, HivekeeperError, NotFoundError, UnavailableError
from hivekeeper.registry.curation import TrustTier
from hivekeeper.registry.store import MAX_LIMIT, RegistryStore


class Catalogue(Protocol):
    def page(self, *, search: str | None, limit: int, cursor: str | None, version: str | None) -> dict[str, Any]: ...
    def get(self, name: str, version: str = "latest") -> dict[str, Any]: ...
    def versions(self, name: str) -> dict[str, Any]: ...
    def publish(self, document: Any) -> dict[str, Any]: ...


def iterate(
    catalogue: Catalogue, *, search: str | None = None, version: str | None = "latest"
) -> Iterator[dict[str, Any]]:
    """Every entry, following cursors."""
    cursor = None
    while True:
        body = catalogue.page(search=search, limit=MAX_LIMIT, cursor=cursor, version=version)
        yield from body["servers"]
        cursor = body.get("metadata", {}).get("nextCursor")
        if not cursor:
            return


class LocalCatalogue:
    """The registry database of this machine (or any database URL)."""

    def __init__(self, store: RegistryStore, *, tier: TrustTier = TrustTier.VERIFIED) -> None:
        self.store = store
        self.tier = tier

    def page(self, *, search: str | None, limit: int, cursor: str | None, version: str | None) -> dict[str, Any]:
        return self.store.list(search=search, limit=limit, cursor=cursor, version=version).to_response()

    def get(self, name: str, version: str = "latest") -> dict[str, Any]:
        return self.store.get(name, version).to_response()

    def versions(self, name: str) -> dict[str, Any]:
        entries = self.store.versions(name)
        return {"servers": [entry.to_response() for entry in entries], "metadata": {"count": len(entries)}}

    def publish(self, document: Any) -> dict[str, Any]:
        return self.store.publish(document, tier=self.tier, source="publish:local").to_response()


_STATUS_ERRORS: dict[int, type[HivekeeperError]] = {
    400: ConfigError,
    401: DeniedError,
    403: DeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: ConfigError,
    422: ConfigError,
}


class HttpCatalogue:
    """A registry speaking the official API at ``base_url`` (hivekeeper's own or any other)."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 15.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise UnavailableError(f"registry {self.base_url} unreachable: {exc}") from exc
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {}
            detail = problem.get("detail") or problem.get("error") or response.reason_phrase
            fields = "; ".join(f"{item.get('location')}: {item.get('message')}" for item in problem.get("errors") or [])
            message = f"{detail}{' (' + fields + ')' if fields and fields not in str(detail) else ''}"
            raise _STATUS_ERRORS.get(response.status_code, UnavailableError)(f"registry: {message}")
        body: dict[str, Any] = response.json()
        return body

    def page(self, *, search: str | None, limit: int, cursor: str | None, version: str | None) -> dict[str, Any]:
        params = {"limit": str(limit)}
        for key, value in (("search", search), ("cursor", cursor), ("version", version)):
            if value:
                params[key] = value
        return self._request("GET", "/v0.1/servers", params=params)

    def get(self, name: str, version: str = "latest") -> dict[str, Any]:
        return self._request("GET", f"/v0.1/servers/{quote(name, safe='')}/versions/{quote(version, safe='')}")

    def versions(self, name: str) -> dict[str, Any]:
        return self._request("GET", f"/v0.1/servers/{quote(name, safe='')}/versions")

    def publish(self, document: Any) -> dict[str, Any]:
        return self._request("POST", "/v0.1/publish", json=document)


__all__ = ["Catalogue", "HttpCatalogue", "LocalCatalogue", "iterate"]

"""A small async Kubernetes API client: exactly the calls the operator makes, and the apply logic.

``apply`` is create-or-server-side-apply: absent objects are created; present ones are compared with
the desired manifest (the server adds defaults, so "desired is a subset of live" means in sync) and,
when they drifted or the desired manifest changed, re-applied with server-side apply under the
``hivekeeper`` field manager, forcing ownership back (someone's ``kubectl edit`` is undone).
"""

from __future__ import annotations

import hashlib
import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import quote

import aiohttp

from hivekeeper.operator.resources import GROUP

FIELD_MANAGER = "hivekeeper"
SPEC_HASH = f"{GROUP}/applied-hash"

# Where each kind the operator touches lives in the API (all namespaced).
_ROUTES: dict[tuple[str, str], tuple[str, str]] = {
    ("v1", "ConfigMap"): ("/api/v1", "configmaps"),
    ("v1", "Service"): ("/api/v1", "services"),
    ("v1", "PersistentVolumeClaim"): ("/api/v1", "persistentvolumeclaims"),
    ("apps/v1", "Deployment"): ("/apis/apps/v1", "deployments"),
    ("networking.k8s.io/v1", "NetworkPolicy"): ("/apis/networking.k8s.io/v1", "networkpolicies"),
}
CHILD_KINDS: tuple[tuple[str, str], ...] = tuple(_ROUTES)
# (group, version, plural) of each, as kopf names resources.
CHILD_RESOURCES: tuple[tuple[str, str, str], ...] = tuple(
    (api_version.rpartition("/")[0], api_version.rpartition("/")[2], plural)
    for (api_version, _), (_, plural) in _ROUTES.items()
)


class KubeError(Exception):
    """The API server refused a request; ``status``/``reason`` are Kubernetes' own."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


class Outcome(Enum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Connection:
    server: str
    token: str | None = None
    ca_path: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    insecure: bool = False


def collection_path(api_version: str, kind: str, namespace: str) -> str:
    try:
        prefix, plural = _ROUTES[(api_version, kind)]
    except KeyError:
        raise ValueError(f"the operator does not manage {api_version} {kind}") from None
    return f"{prefix}/namespaces/{quote(namespace)}/{plural}"


def object_path(manifest: Mapping[str, Any], namespace: str) -> str:
    base = collection_path(manifest["apiVersion"], manifest["kind"], namespace)
    return f"{base}/{quote(manifest['metadata']['name'])}"


def applied_hash(manifest: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]


def is_subset(desired: Any, live: Any) -> bool:
    """True when every field of ``desired`` has the same value in ``live`` (extra live fields are defaults)."""
    if isinstance(desired, Mapping):
        return isinstance(live, Mapping) and all(
            key in live and is_subset(value, live[key]) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(desired) == len(live)
            and all(is_subset(item, other) for item, other in zip(desired, live, strict=True))
        )
    return bool(desired == live)


class KubeClient:
    """One aiohttp session against one API server."""

    def __init__(self, connection: Connection) -> None:
        self._base = connection.server.rstrip("/")
        headers = {"Accept": "application/json"}
        if connection.token:
            headers["Authorization"] = f"Bearer {connection.token}"
        ssl_context: ssl.SSLContext | bool = True
        if connection.insecure:
            ssl_context = False
        elif connection.ca_path or connection.client_cert:
            ssl_context = ssl.create_default_context(cafile=connection.ca_path)
            if connection.client_cert:
                ssl_context.load_cert_chain(connection.client_cert, connection.client_key)
        self._session = aiohttp.ClientSession(
            headers=headers,
            connector=aiohttp.TCPConnector(ssl=ssl_context),
            timeout=aiohttp.ClientTimeout(total=30),
        )

    async def aclose(self) -> None:
        await self._session.close()

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any] | None:
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type} if data is not None else {}
        async with self._session.request(
            method, self._base + path, data=data, params=params, headers=headers
        ) as response:
            payload = await response.json(content_type=None) if response.content_length != 0 else None
            if response.status == 404 and method in ("GET", "DELETE"):
                return None
            if response.status >= 400:
                payload = payload if isinstance(payload, dict) else {}
                raise KubeError(
                    response.status, str(payload.get("reason", response.reason)), str(payload.get("message", ""))
                )
            return payload if isinstance(payload, dict) else {}

    async def get(self, path: str) -> dict[str, Any] | None:
        return await self._request("GET", path)

    async def list(self, path: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        params = {"labelSelector": label_selector} if label_selector else None
        result = await self._request("GET", path, params=params) or {}
        items = result.get("items") or []
        return [item for item in items if isinstance(item, dict)]

    async def create(self, path: str, manifest: Mapping[str, Any]) -> dict[str, Any]:
        return await self._request("POST", path, body=manifest) or {}

    async def server_side_apply(self, path: str, manifest: Mapping[str, Any]) -> dict[str, Any]:
        params = {"fieldManager": FIELD_MANAGER, "force": "true"}
        return (
            await self._request(
                "PATCH", path, body=manifest, params=params, content_type="application/apply-patch+yaml"
            )
            or {}
        )

    async def merge_patch(self, path: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        return await self._request("PATCH", path, body=patch, content_type="application/merge-patch+json") or {}

    async def delete(self, path: str) -> bool:
        """Delete an object; False when it was already gone."""
        result = await self._request("DELETE", path, params={"propagationPolicy": "Background"})
        return result is not None

    async def apply(self, manifest: Mapping[str, Any], namespace: str) -> tuple[Outcome, dict[str, Any]]:
        """Bring one object to the desired state; see the module docstring."""
        desired = _with_hash(manifest, namespace)
        path = object_path(desired, namespace)
        live = await self.get(path)
        if live is None:
            base = collection_path(desired["apiVersion"], desired["kind"], namespace)
            try:
                return Outcome.CREATED, await self.create(base, desired)
            except KubeError as exc:
                if exc.status != 409:  # created concurrently: fall through to apply
                    raise
        elif is_subset(desired, live):
            return Outcome.UNCHANGED, live
        return Outcome.UPDATED, await self.server_side_apply(path, desired)


def _with_hash(manifest: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    # The hash of what we applied last lets a removed field count as a change even though the
    # subset comparison cannot see fields that are no longer desired.
    desired: dict[str, Any] = json.loads(json.dumps(manifest))
    desired["metadata"]["namespace"] = namespace
    annotations = desired["metadata"].setdefault("annotations", {})
    annotations[SPEC_HASH] = applied_hash(manifest)
    return desired


__all__ = [
    "CHILD_KINDS",
    "CHILD_RESOURCES",
    "FIELD_MANAGER",
    "SPEC_HASH",
    "Connection",
    "KubeClient",
    "KubeError",
    "Outcome",
    "applied_hash",
    "collection_path",
    "is_subset",
    "object_path",
]

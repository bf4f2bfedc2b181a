"""The MCP server registry: an official-registry-compatible API over SQLite or PostgreSQL, curated.

Public API::

    registry = open_registry(RegistrySettings(database_url=...))   # migrates, loads the starter catalogue
    app = build_registry_app(database_url)                        # standalone ASGI app
    registry.store.publish(server_json, tier=TrustTier.VERIFIED)
    verify_artifact(entry, path_or_digest)                        # the runtime's integrity check
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.applications import Starlette

from hivekeeper.registry.api import RegistryApi
from hivekeeper.registry.curation import Status, TrustTier
from hivekeeper.registry.db import default_database_url
from hivekeeper.registry.settings import PublishToken, RegistrySettings, SyncSource
from hivekeeper.registry.starter import load_starter_catalogue
from hivekeeper.registry.store import Entry, ImportOutcome, Page, RegistryStore
from hivekeeper.registry.supply import ArtifactMismatchError, verify_artifact
from hivekeeper.registry.validation import ServerJsonError, validate_server_json


@dataclass(frozen=True, slots=True)
class Registry:
    """An open registry: its store, its settings, its HTTP API routes and the database URL it opened."""

    store: RegistryStore
    settings: RegistrySettings
    api: RegistryApi
    database_url: str  # the configured one, else this machine's default


def open_registry(settings: RegistrySettings | None = None) -> Registry:
    """Connect, migrate, and fill an empty database with the starter catalogue (unless disabled)."""
    settings = settings or RegistrySettings()
    database_url = settings.database_url or default_database_url()
    store = RegistryStore.open(database_url)
    if settings.starter_catalogue:
        load_starter_catalogue(store)
    return Registry(store, settings, RegistryApi(store, settings), database_url)


def build_registry_app(database_url: str | None = None, settings: RegistrySettings | None = None) -> Starlette:
    """A standalone ASGI app with the registry API for ``database_url`` (or ``settings``)."""
    if settings is None:
        settings = RegistrySettings(database_url=database_url)
    elif database_url is not None:
        settings = settings.model_copy(update={"database_url": database_url})
    registry = open_registry(settings)
    app = Starlette(routes=registry.api.routes())
    app.state.registry = registry
    return app


__all__ = [
    "ArtifactMismatchError",
    "Entry",
    "ImportOutcome",
    "Page",
    "PublishToken",
    "Registry",
    "RegistrySettings",
    "RegistryStore",
    "ServerJsonError",
    "Status",
    "SyncSource",
    "TrustTier",
    "build_registry_app",
    "open_registry",
    "validate_server_json",
    "verify_artifact",
]

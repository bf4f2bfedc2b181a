"""The built-in starter catalogue: real servers that install from PyPI/npm, so a fresh portal is useful."""

from __future__ import annotations

from importlib import resources
from typing import Any

import orjson

from hivekeeper.registry.curation import TrustTier
from hivekeeper.registry.store import RegistryStore

STARTER_SOURCE = "starter"


def starter_entries() -> list[dict[str, Any]]:
    folder = resources.files("hivekeeper.registry").joinpath("starter")
    return [
        orjson.loads(item.read_bytes())
        for item in sorted(folder.iterdir(), key=lambda item: item.name)
        if item.name.endswith(".json")
    ]


def load_starter_catalogue(store: RegistryStore) -> int:
    """Import the starter entries into an empty registry; returns how many were added."""
    if store.count():
        return 0
    for document in starter_entries():
        store.import_entry(document, tier=TrustTier.OFFICIAL, source=STARTER_SOURCE)
    return store.count()


__all__ = ["STARTER_SOURCE", "load_starter_catalogue", "starter_entries"]

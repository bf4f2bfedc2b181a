"""Registry servers run only the artifact their registry entry pins.

A workload resolved from a registry name remembers the exact entry (``NAME@VERSION``). Before every
start, the package it runs must match that entry's pinned sha256: on first install the pinned file is
downloaded, hashed and verified *before* anything of it is installed (then installed from that very
file); later starts re-check the recorded digest against the entry, so a re-pinned or tampered entry
stops the server from starting again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ArtifactCheck = Callable[[str], None]
"""Called with an artifact's sha256 (hex); raises ``ArtifactMismatchError`` (exit 7) when it is not the pinned one."""


def registry_entry(reference: str) -> Any:
    """The registry entry for ``NAME[@VERSION]`` (latest when no version) from this machine's registry."""
    from hivekeeper.registry import RegistrySettings, open_registry

    name, _, version = reference.partition("@")
    store = open_registry(RegistrySettings()).store
    try:
        return store.get(name, version or "latest")
    finally:
        store.close()


def pinned_reference(reference: str) -> str:
    """``NAME[@VERSION]`` → ``NAME@VERSION`` of the entry it means now, so later starts keep that version."""
    from hivekeeper.registry.resolve import entry_reference

    return entry_reference(registry_entry(reference).server)


def artifact_check(reference: str, package: str) -> ArtifactCheck:
    """A check of one package's artifact against the pin of the entry ``reference`` (read once, here)."""
    from hivekeeper.registry import verify_artifact

    entry = registry_entry(reference)

    def check(sha256: str) -> None:
        verify_artifact(entry, f"sha256:{sha256}", identifier=package)

    return check


__all__ = ["ArtifactCheck", "artifact_check", "pinned_reference", "registry_entry"]

"""Registry servers run only the artifact their registry entry pins.

A workload resolved from a registry name remembers the exact entry (``NAME@VERSION``) and the registry
database it was named in, if any. Before every start, the package it runs must match that entry's pinned
sha256: on first install the pinned file is downloaded, hashed and verified *before* anything of it is
installed (then installed from that very file); later starts re-check the recorded digest against the
entry, so a re-pinned or tampered entry stops the server from starting again.
"""

from __future__ import annotations

from collections.abc import Callable

ArtifactCheck = Callable[[str], None]
"""Called with an artifact's sha256 (hex); raises ``ArtifactMismatchError`` (exit 7) when it is not the pinned one."""


def pinned_reference(reference: str, database: str | None = None) -> str:
    """``NAME[@VERSION]`` → ``NAME@VERSION`` of the entry it means now in the registry at ``database`` (None:
    this machine's), so later starts keep that version."""
    from hivekeeper.registry.resolve import entry_reference, registry_entry

    return entry_reference(registry_entry(reference, database).server)


def artifact_check(reference: str, package: str, database: str | None = None) -> ArtifactCheck:
    """A check of one package's artifact against the pin of the entry ``reference`` of the registry at
    ``database`` (None: this machine's), read once, here."""
    from hivekeeper.registry import verify_artifact
    from hivekeeper.registry.resolve import registry_entry

    entry = registry_entry(reference, database)

    def check(sha256: str) -> None:
        verify_artifact(entry, f"sha256:{sha256}", identifier=package)

    return check


__all__ = ["ArtifactCheck", "artifact_check", "pinned_reference"]

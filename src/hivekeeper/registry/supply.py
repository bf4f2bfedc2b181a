"""Supply-chain checks the runtime runs before starting a registry server.

* :func:`verify_artifact`: the downloaded package file (or pulled image digest) must match the sha256 /
  digest pinned in the entry; an unpinned entry is refused too, since there is nothing to check against.
* :func:`verify_provenance`: a Sigstore bundle for the artifact must verify against a supplied trusted
  root, offline, and name the expected signer identity and OIDC issuer.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from hivekeeper.errors import DeniedError
from hivekeeper.registry.curation import publisher_block

_DIGEST = re.compile(r"^(sha256:)?([a-f0-9]{64})$")


class ArtifactMismatchError(DeniedError):
    """The artifact is not the one the registry entry pins (or the entry pins nothing)."""


def _server(entry: Any) -> Mapping[str, Any]:
    server = getattr(entry, "server", entry)
    if not isinstance(server, Mapping):
        raise TypeError("entry must be a registry Entry or a server.json mapping")
    return server


def _pinned(package: Mapping[str, Any]) -> str | None:
    identifier = str(package.get("identifier", ""))
    if package.get("registryType") == "oci" and "@sha256:" in identifier:
        return identifier.rsplit("@sha256:", 1)[1]
    digest = package.get("fileSha256")
    return str(digest) if digest else None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_artifact(entry: Any, path_or_digest: str | Path, *, identifier: str | None = None) -> Mapping[str, Any]:
    """Return the package of ``entry`` whose pinned digest matches ``path_or_digest``; refuse otherwise.

    ``path_or_digest`` is a downloaded file (hashed here) or a digest (``sha256:<hex>`` or bare hex,
    e.g. a pulled image's). ``identifier`` narrows the check to one package of the entry.
    """
    server = _server(entry)
    packages = [
        package
        for package in server.get("packages") or []
        if identifier is None
        or package.get("identifier") == identifier
        or str(package.get("identifier", "")).startswith(f"{identifier}@")
    ]
    label = f"{server.get('name')} {server.get('version')}"
    if not packages:
        raise ArtifactMismatchError(f"{label}: no package{' ' + identifier if identifier else ''} in the entry")
    pins = [(package, _pinned(package)) for package in packages]
    if not any(pin for _, pin in pins):
        raise ArtifactMismatchError(
            f"{label}: the entry pins no sha256 or image digest; refusing an unverifiable artifact"
        )
    text = str(path_or_digest)
    match = _DIGEST.match(text.lower())
    if match and not Path(text).exists():
        actual = match.group(2)
    else:
        path = Path(text)
        if not path.is_file():
            raise ArtifactMismatchError(f"{label}: {text} is neither a file nor a sha256 digest")
        actual = file_sha256(path)
    for package, pin in pins:
        if pin == actual:
            return dict(package)
    expected = ", ".join(f"{package.get('identifier')}={pin}" for package, pin in pins if pin)
    raise ArtifactMismatchError(f"{label}: artifact sha256 {actual} does not match the pinned {expected}")


def verify_entry_provenance(entry: Any, artifact: bytes | Path, *, trusted_root_json: bytes | str) -> dict[str, str]:
    """Verify ``artifact`` against the Sigstore bundle and signer the entry declares; return the signer.

    The entry carries ``_meta["dev.hivekeeper/server"]["provenance"] = {"bundle": {...}, "identity": ...,
    "issuer": ...}``: who is expected to have signed the release, as curated at import.
    """
    block = publisher_block(_server(entry)).get("provenance")
    if not isinstance(block, Mapping) or not all(block.get(key) for key in ("bundle", "identity", "issuer")):
        raise DeniedError(f"{_server(entry).get('name')}: the entry declares no provenance bundle and signer")
    verify_provenance(
        artifact,
        orjson.dumps(block["bundle"]),
        trusted_root_json=trusted_root_json,
        identity=str(block["identity"]),
        issuer=str(block["issuer"]),
    )
    return {"identity": str(block["identity"]), "issuer": str(block["issuer"])}


def verify_provenance(
    artifact: bytes | Path,
    bundle_json: bytes | str,
    *,
    trusted_root_json: bytes | str,
    identity: str,
    issuer: str,
) -> None:
    """Verify a Sigstore bundle for ``artifact`` offline against ``trusted_root_json``; raise DeniedError."""
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import Bundle, InvalidBundle, TrustedRoot
    from sigstore.verify import Verifier, policy
    from sigstore_models.trustroot import v1 as trustroot_v1

    data = artifact.read_bytes() if isinstance(artifact, Path) else artifact
    try:
        root = TrustedRoot(trustroot_v1.TrustedRoot.from_json(trusted_root_json))
        bundle = Bundle.from_json(bundle_json)
    except (InvalidBundle, ValueError) as exc:
        raise DeniedError(f"provenance bundle or trusted root unreadable: {_first_line(exc)}") from exc
    try:
        Verifier(trusted_root=root).verify_artifact(data, bundle, policy.Identity(identity=identity, issuer=issuer))
    except SigstoreError as exc:
        raise DeniedError(f"provenance not verified: {_first_line(exc)}") from exc


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


__all__ = ["ArtifactMismatchError", "file_sha256", "verify_artifact", "verify_entry_provenance", "verify_provenance"]

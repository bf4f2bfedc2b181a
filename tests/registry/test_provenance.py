"""Sigstore provenance, offline, against a trusted root made by the test (no Sigstore service involved)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from hivekeeper.errors import DeniedError
from hivekeeper.registry import RegistryStore, TrustTier
from hivekeeper.registry.supply import verify_entry_provenance, verify_provenance
from tests.registry.conftest import server_json
from tests.registry.sigstore_testing import TestSigstore

IDENTITY = "release@acme.example"
ISSUER = "https://accounts.acme.example"


@pytest.fixture(scope="module")
def sigstore() -> TestSigstore:
    return TestSigstore()


@pytest.fixture(scope="module")
def signed(sigstore: TestSigstore) -> tuple[bytes, str]:
    artifact = b"acme_weather_mcp-1.0.0-py3-none-any.whl contents"
    return artifact, sigstore.sign(artifact, identity=IDENTITY, issuer=ISSUER)


def test_a_genuine_bundle_verifies(sigstore: TestSigstore, signed: tuple[bytes, str], tmp_path: Path) -> None:
    artifact, bundle = signed
    path = tmp_path / "artifact.whl"
    path.write_bytes(artifact)
    verify_provenance(path, bundle, trusted_root_json=sigstore.trusted_root_json(), identity=IDENTITY, issuer=ISSUER)


def test_a_tampered_artifact_is_rejected(sigstore: TestSigstore, signed: tuple[bytes, str]) -> None:
    artifact, bundle = signed
    with pytest.raises(DeniedError, match="digest mismatch"):
        verify_provenance(
            artifact + b"!", bundle, trusted_root_json=sigstore.trusted_root_json(), identity=IDENTITY, issuer=ISSUER
        )


@pytest.mark.parametrize(
    ("identity", "issuer", "reason"),
    [("mallory@acme.example", ISSUER, "SANs do not match"), (IDENTITY, "https://accounts.evil.example", "OIDCIssuer")],
)
def test_a_wrong_identity_or_issuer_is_rejected(
    sigstore: TestSigstore, signed: tuple[bytes, str], identity: str, issuer: str, reason: str
) -> None:
    artifact, bundle = signed
    with pytest.raises(DeniedError, match=reason):
        verify_provenance(
            artifact, bundle, trusted_root_json=sigstore.trusted_root_json(), identity=identity, issuer=issuer
        )


def test_a_bundle_from_another_sigstore_is_rejected(sigstore: TestSigstore) -> None:
    artifact = b"payload"
    foreign = TestSigstore().sign(artifact, identity=IDENTITY, issuer=ISSUER)
    with pytest.raises(DeniedError):
        verify_provenance(
            artifact, foreign, trusted_root_json=sigstore.trusted_root_json(), identity=IDENTITY, issuer=ISSUER
        )


def test_a_forged_log_entry_is_rejected(sigstore: TestSigstore, signed: tuple[bytes, str]) -> None:
    artifact, bundle = signed
    document = json.loads(bundle)
    entry = document["verificationMaterial"]["tlogEntries"][0]
    entry["integratedTime"] = str(int(entry["integratedTime"]) + 60)  # breaks the signed inclusion promise
    with pytest.raises(DeniedError, match="inclusion promise"):
        verify_provenance(
            artifact,
            json.dumps(document),
            trusted_root_json=sigstore.trusted_root_json(),
            identity=IDENTITY,
            issuer=ISSUER,
        )
    with pytest.raises(DeniedError, match="unreadable"):
        verify_provenance(
            artifact, "{}", trusted_root_json=sigstore.trusted_root_json(), identity=IDENTITY, issuer=ISSUER
        )


def test_entries_declare_their_signer_and_the_runtime_checks_it(
    sigstore: TestSigstore, signed: tuple[bytes, str], tmp_path: Path
) -> None:
    artifact, bundle = signed
    document = server_json(
        _meta={
            "dev.hivekeeper/server": {
                "provenance": {"bundle": json.loads(bundle), "identity": IDENTITY, "issuer": ISSUER}
            }
        }
    )
    store = RegistryStore.open(f"sqlite:///{tmp_path / 'r.db'}")
    entry = store.publish(document, tier=TrustTier.VERIFIED)
    assert entry.curation["provenance"] == {"identity": IDENTITY, "issuer": ISSUER}
    root = sigstore.trusted_root_json()
    assert verify_entry_provenance(entry, artifact, trusted_root_json=root) == {"identity": IDENTITY, "issuer": ISSUER}
    with pytest.raises(DeniedError, match="digest mismatch"):
        verify_entry_provenance(entry, base64.b64encode(artifact), trusted_root_json=root)
    unsigned = store.publish(server_json(name="io.github.acme/unsigned"))
    with pytest.raises(DeniedError, match="declares no provenance"):
        verify_entry_provenance(unsigned, artifact, trusted_root_json=root)
    store.close()

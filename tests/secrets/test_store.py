from __future__ import annotations

from pathlib import Path

import keyring
import orjson
import pytest
from keyring.backends.fail import Keyring as FailKeyring

from hivekeeper.errors import ConfigError, HivekeeperError, NotFoundError, UnavailableError
from hivekeeper.secrets import (
    PASSPHRASE_VARIABLE,
    EncryptedFileProvider,
    EnvironmentProvider,
    SecretRef,
    SecretStore,
)

CANARY = "canary-7f3a9c1e-not-for-disk"


def test_passphrase_store_round_trip_and_ciphertext_hides_values(tmp_path: Path) -> None:
    path = tmp_path / "secrets.enc"
    provider = EncryptedFileProvider(path, environ={PASSPHRASE_VARIABLE: "correct horse"})
    provider.set("db-password", CANARY)
    provider.set("token", "t0k")
    assert provider.names() == ["db-password", "token"]
    raw = path.read_bytes()
    assert CANARY.encode() not in raw and b"db-password" not in raw
    assert path.stat().st_mode & 0o777 == 0o600
    # A fresh provider (a new process) reads it back with the same passphrase.
    again = EncryptedFileProvider(path, environ={PASSPHRASE_VARIABLE: "correct horse"})
    assert again.get("db-password") == CANARY
    again.remove("token")
    assert again.names() == ["db-password"]


def test_wrong_or_missing_passphrase_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "secrets.enc"
    EncryptedFileProvider(path, environ={PASSPHRASE_VARIABLE: "right"}).set("a", "1")
    with pytest.raises(HivekeeperError, match="cannot decrypt") as wrong:
        EncryptedFileProvider(path, environ={PASSPHRASE_VARIABLE: "wrong"}).get("a")
    assert "right" not in str(wrong.value)
    with pytest.raises(UnavailableError, match=PASSPHRASE_VARIABLE):
        EncryptedFileProvider(path, environ={}).get("a")


def test_tampered_header_fails_authentication(tmp_path: Path) -> None:
    path = tmp_path / "secrets.enc"
    EncryptedFileProvider(path, environ={PASSPHRASE_VARIABLE: "pw"}).set("a", "1")
    document = orjson.loads(path.read_bytes())
    document["header"]["kdf"]["n"] = 2**14  # a downgrade attempt
    path.write_bytes(orjson.dumps(document))
    with pytest.raises(HivekeeperError, match="cannot decrypt"):
        EncryptedFileProvider(path, environ={PASSPHRASE_VARIABLE: "pw"}).get("a")


def test_garbage_file_is_reported_not_crashed_on(tmp_path: Path) -> None:
    path = tmp_path / "secrets.enc"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not a hivekeeper secrets file"):
        EncryptedFileProvider(path, environ={PASSPHRASE_VARIABLE: "pw"}).names()


def test_keyring_backed_store(tmp_path: Path, isolated_keyring: Path) -> None:
    path = tmp_path / "secrets.enc"
    EncryptedFileProvider(path, environ={}).set("api", CANARY)
    assert EncryptedFileProvider(path, environ={}).get("api") == CANARY
    assert orjson.loads(path.read_bytes())["header"]["key"] == "keyring"
    # The key lives in the keyring's own file, the value in ours: neither holds the plaintext.
    for file in [*isolated_keyring.rglob("*"), path]:
        if file.is_file():
            assert CANARY not in file.read_text(errors="replace")


def test_no_keyring_backend_says_what_to_do(tmp_path: Path) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(FailKeyring())
    try:
        with pytest.raises(UnavailableError, match=r"keyrings\.alt or set HIVEKEEPER_SECRETS_PASSPHRASE"):
            EncryptedFileProvider(tmp_path / "s.enc", environ={}).set("a", "1")
    finally:
        keyring.set_keyring(previous)


def test_environment_provider_is_read_only() -> None:
    provider = EnvironmentProvider({"HIVEKEEPER_SECRET_DB_PASSWORD": "x", "HOME": "/root"})
    assert provider.names() == ["db_password"]
    assert provider.get("db-password") == "x"
    with pytest.raises(ConfigError, match="read-only"):
        provider.set("db-password", "y")


def test_store_resolves_refs_and_names_every_missing_secret(tmp_path: Path) -> None:
    file_provider = EncryptedFileProvider(tmp_path / "s.enc", environ={PASSPHRASE_VARIABLE: "pw"})
    file_provider.set("gh", "from-file")
    environment = EnvironmentProvider({"HIVEKEEPER_SECRET_GH": "shadowed", "HIVEKEEPER_SECRET_DB": "d"})
    store = SecretStore([file_provider, environment])
    refs = [SecretRef.parse("gh,target=GITHUB_TOKEN"), SecretRef.parse("db")]
    assert store.resolve(refs) == {"GITHUB_TOKEN": "from-file", "DB": "d"}
    assert store.entries() == [("db", "environment"), ("gh", "encrypted-file")]
    with pytest.raises(NotFoundError, match="secrets not found: nope, also-missing"):
        store.resolve([SecretRef.parse("nope"), SecretRef.parse("gh"), SecretRef.parse("also-missing")])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a,target=1BAD", "not a valid environment variable"),
        ("a,tgt=X", "expected NAME,target=ENV_VAR"),
        ("bad name", "secret name"),
        (",target=X", "secret name"),
    ],
)
def test_bad_secret_references(text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        SecretRef.parse(text)

"""The encrypted-file secret provider: one AES-256-GCM blob holding every secret.

The key comes either from the OS keyring (a random key created on first use) or from a passphrase in
``HIVEKEEPER_SECRETS_PASSPHRASE`` stretched with scrypt. The file header records which, so a store
made with one never silently switches to the other. The header is bound to the ciphertext as
associated data: editing it (e.g. weakening the KDF) makes decryption fail.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from filelock import FileLock

from hivekeeper.errors import ConfigError, HivekeeperError, NotFoundError, UnavailableError
from hivekeeper.fileio import write_atomic

PASSPHRASE_VARIABLE = "HIVEKEEPER_SECRETS_PASSPHRASE"
KEYRING_SERVICE = "hivekeeper"
KEYRING_USERNAME = "secrets-file-key"
_FORMAT = "hivekeeper-secrets"
_SCRYPT_N = 2**15  # ~50 ms and 32 MiB per derivation: slow for guessing, fine once per process

KeySource = Literal["keyring", "passphrase"]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


class EncryptedFileProvider:
    """Secrets in ``path``, encrypted at rest. Writable."""

    name = "encrypted-file"
    writable = True

    def __init__(self, path: Path, *, environ: Mapping[str, str] | None = None) -> None:
        self.path = path
        self._environ = environ if environ is not None else os.environ
        self._lock = FileLock(str(path) + ".lock")
        # Deriving a key is deliberately slow; a long-lived manager derives it once per salt.
        self._derived: dict[bytes, bytes] = {}

    # -- public API ---------------------------------------------------------------------------
    def names(self) -> list[str]:
        return sorted(self._read())

    def get(self, name: str) -> str | None:
        return self._read().get(name)

    def set(self, name: str, value: str) -> None:
        with self._lock:
            secrets = self._read()
            secrets[name] = value
            self._write(secrets)

    def remove(self, name: str) -> None:
        with self._lock:
            secrets = self._read()
            if name not in secrets:
                raise NotFoundError(f"no secret named {name!r} in {self.path}")
            del secrets[name]
            self._write(secrets)

    # -- file format ----------------------------------------------------------------------------
    def _read(self) -> dict[str, str]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            document = orjson.loads(raw)
            header = document["header"]
            nonce = _unb64(document["nonce"])
            ciphertext = _unb64(document["ciphertext"])
            if header.get("format") != _FORMAT or header.get("version") != 1:
                raise ValueError("unknown format or version")
            if header.get("key") not in ("keyring", "passphrase"):
                raise ValueError(f"unknown key source {header.get('key')!r}")
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{self.path}: not a hivekeeper secrets file ({exc})") from None
        key = self._key_for(header, create=False)
        try:
            plaintext = AESGCM(key).decrypt(nonce, ciphertext, orjson.dumps(header))
        except InvalidTag:
            hint = f"wrong {PASSPHRASE_VARIABLE}" if header["key"] == "passphrase" else "wrong keyring key"
            message = f"{self.path}: cannot decrypt secrets ({hint}, or the file was altered)"
            raise HivekeeperError(message) from None
        secrets: dict[str, str] = orjson.loads(plaintext)
        return secrets

    def _write(self, secrets: dict[str, str]) -> None:
        header = self._existing_header() or self._new_header()
        key = self._key_for(header, create=True)
        nonce = os.urandom(12)
        ciphertext = AESGCM(key).encrypt(nonce, orjson.dumps(secrets), orjson.dumps(header))
        document = {"header": header, "nonce": _b64(nonce), "ciphertext": _b64(ciphertext)}
        write_atomic(self.path, orjson.dumps(document, option=orjson.OPT_INDENT_2), mode=0o600)

    def _existing_header(self) -> dict[str, Any] | None:
        try:
            header: dict[str, Any] = orjson.loads(self.path.read_bytes())["header"]
        except FileNotFoundError:
            return None
        return header

    def _new_header(self) -> dict[str, Any]:
        if self._environ.get(PASSPHRASE_VARIABLE):
            kdf = {"name": "scrypt", "salt": _b64(os.urandom(16)), "n": _SCRYPT_N, "r": 8, "p": 1}
            return {"format": _FORMAT, "version": 1, "key": "passphrase", "kdf": kdf}
        return {"format": _FORMAT, "version": 1, "key": "keyring"}

    def _key_for(self, header: dict[str, Any], *, create: bool) -> bytes:
        if header["key"] == "passphrase":
            return self._passphrase_key(header["kdf"])
        if header["key"] == "keyring":
            return _keyring_key(create=create)
        raise ConfigError(f"{self.path}: header.key: unknown key source {header['key']!r}")

    def _passphrase_key(self, kdf: dict[str, Any]) -> bytes:
        passphrase = self._environ.get(PASSPHRASE_VARIABLE)
        if not passphrase:
            raise UnavailableError(f"{self.path} is passphrase-protected: set {PASSPHRASE_VARIABLE}")
        salt = _unb64(kdf["salt"])
        cache_key = salt + passphrase.encode()
        if cache_key not in self._derived:
            scrypt = Scrypt(salt=salt, length=32, n=int(kdf["n"]), r=int(kdf["r"]), p=int(kdf["p"]))
            self._derived[cache_key] = scrypt.derive(passphrase.encode())
        return self._derived[cache_key]


def _keyring_key(*, create: bool) -> bytes:
    import keyring
    from keyring.errors import KeyringError

    try:
        stored = keyring.get_password(KEYRING_SERVICE, KEYRING_USERNAME)
        if stored is None:
            if not create:
                raise UnavailableError(
                    f"the secrets key is missing from the OS keyring (service {KEYRING_SERVICE!r}); "
                    "it was created on another machine or the keyring was reset"
                )
            stored = _b64(AESGCM.generate_key(bit_length=256))
            keyring.set_password(KEYRING_SERVICE, KEYRING_USERNAME, stored)
    except KeyringError as exc:
        raise UnavailableError(
            f"no usable OS keyring ({type(exc).__name__}): install keyrings.alt or set {PASSPHRASE_VARIABLE}"
        ) from None
    return _unb64(stored)

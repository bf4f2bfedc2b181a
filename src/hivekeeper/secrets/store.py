"""Looking secrets up across providers and turning ``--secret NAME,target=ENV`` references into env vars."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hivekeeper import paths
from hivekeeper.errors import ConfigError, NotFoundError
from hivekeeper.secrets.encrypted import EncryptedFileProvider
from hivekeeper.secrets.environment import EnvironmentProvider

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$")
_ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SecretProvider(Protocol):
    name: str
    writable: bool

    def names(self) -> list[str]: ...

    def get(self, name: str) -> str | None: ...

    def set(self, name: str, value: str) -> None: ...

    def remove(self, name: str) -> None: ...


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(f"secret name {name!r}: use letters, digits, '_', '.', '-' (max 128, letter first)")
    return name


@dataclass(frozen=True)
class SecretRef:
    """A reference to a secret, injected into a server's environment as ``target``. Holds no value."""

    name: str
    target: str

    @classmethod
    def parse(cls, text: str) -> SecretRef:
        """Parse ``NAME,target=ENV`` (``NAME`` alone targets an env var named like the secret)."""
        name, _, rest = text.partition(",")
        target = re.sub(r"[^A-Za-z0-9_]", "_", name).upper()
        if rest:
            key, _, value = rest.partition("=")
            if key.strip() != "target" or not value:
                raise ConfigError(f"--secret {text!r}: expected NAME,target=ENV_VAR")
            target = value.strip()
        if not _ENV_VAR.match(target):
            raise ConfigError(f"--secret {text!r}: target {target!r} is not a valid environment variable")
        return cls(name=check_name(name.strip()), target=target)

    def __str__(self) -> str:
        return f"{self.name},target={self.target}"


class SecretStore:
    """Providers in lookup order; writes go to the first writable one."""

    def __init__(self, providers: Sequence[SecretProvider]) -> None:
        self.providers = list(providers)

    def get(self, name: str) -> str:
        check_name(name)
        for provider in self.providers:
            value = provider.get(name)
            if value is not None:
                return value
        raise NotFoundError(f"secret {name!r} not found (looked in: {self._provider_names()})")

    def set(self, name: str, value: str) -> None:
        self._writable().set(check_name(name), value)

    def remove(self, name: str) -> None:
        """Remove from the provider the name resolves to (a read-only one says how to remove it there)."""
        check_name(name)
        for provider in self.providers:
            if provider.get(name) is not None:
                provider.remove(name)
                return
        raise NotFoundError(f"secret {name!r} not found (looked in: {self._provider_names()})")

    def entries(self) -> list[tuple[str, str]]:
        """``(name, provider)`` for every secret; a name shadowed by an earlier provider appears once."""
        seen: dict[str, str] = {}
        for provider in self.providers:
            for name in provider.names():
                seen.setdefault(name, provider.name)
        return sorted(seen.items())

    def resolve(self, refs: Iterable[SecretRef]) -> dict[str, str]:
        """Environment variables for ``refs``; names every missing secret in one error."""
        env: dict[str, str] = {}
        missing: list[str] = []
        for ref in refs:
            try:
                env[ref.target] = self.get(ref.name)
            except NotFoundError:
                missing.append(ref.name)
        if missing:
            raise NotFoundError(
                f"secret{'s' if len(missing) > 1 else ''} not found: {', '.join(missing)} "
                f"(set with `hivekeeper secret set NAME`; looked in: {self._provider_names()})"
            )
        return env

    def _writable(self) -> SecretProvider:
        for provider in self.providers:
            if provider.writable:
                return provider
        raise ConfigError("no writable secret provider is configured")

    def _provider_names(self) -> str:
        return ", ".join(provider.name for provider in self.providers)


def secrets_file() -> Path:
    return paths.data_dir() / "secrets.enc"


def default_store(environ: Mapping[str, str] | None = None) -> SecretStore:
    """The encrypted file under the data dir first, then ``HIVEKEEPER_SECRET_*`` variables."""
    return SecretStore([EncryptedFileProvider(secrets_file(), environ=environ), EnvironmentProvider(environ)])

"""Static API keys, stored and compared as SHA-256 digests."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from hivekeeper.auth.config import ApiKeyConfig
from hivekeeper.auth.identity import Caller


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeys:
    def __init__(self, keys: Iterable[ApiKeyConfig]) -> None:
        self._callers = {
            key.sha256: Caller(subject=key.name, method="api_key", claims={"sub": key.name, **key.claims})
            for key in keys
        }

    def __bool__(self) -> bool:
        return bool(self._callers)

    def lookup(self, key: str) -> Caller | None:
        presented = digest(key)
        # Constant-time comparison against every digest: no timing hint about which prefix matched.
        found = None
        for known, caller in self._callers.items():
            if hmac.compare_digest(known, presented):
                found = caller
        return found

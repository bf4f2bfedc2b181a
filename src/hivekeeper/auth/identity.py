"""Who is calling: the identity every later link (authorization, audit, telemetry) reads."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

AuthMethod = Literal["jwt", "api_key", "anonymous"]


@dataclass(frozen=True)
class Caller:
    """An authenticated caller. ``claims`` are the token's claims (or the API key's configured attributes)."""

    subject: str
    method: AuthMethod
    claims: Mapping[str, Any] = field(default_factory=dict)

    @property
    def groups(self) -> tuple[str, ...]:
        value = self.claims.get("groups", ())
        if isinstance(value, str):
            return (value,)
        return tuple(str(item) for item in value) if isinstance(value, list | tuple) else ()


ANONYMOUS = Caller(subject="anonymous", method="anonymous")

CURRENT_CALLER: ContextVar[Caller] = ContextVar("hivekeeper_caller", default=ANONYMOUS)
"""Set by the authentication middleware for the request being served; tasks spawned while serving it
inherit it, so handlers deep inside a transport need no extra plumbing to know who is calling."""


class AuthenticationError(Exception):
    """The request carries no usable credentials. ``error`` is the RFC 6750 error code for the challenge."""

    def __init__(self, message: str, *, error: str | None = "invalid_token") -> None:
        super().__init__(message)
        self.message = message
        self.error = error

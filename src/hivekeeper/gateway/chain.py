"""The middleware chain: one ``Call`` per client request travels through the links in one direction
(authorization → filters → integrity → tool search → audit/telemetry) to the router, and the result
travels back through the same links, which may also filter it (lists) or record it (audit, telemetry).

Every link has the same narrow interface, so each is a small module testable on its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from hivekeeper.auth.identity import ANONYMOUS, Caller
from hivekeeper.transport.backend import Exchange
from hivekeeper.transport.jsonrpc import INTERNAL_ERROR, RpcError

Result = dict[str, Any]
"""A JSON-RPC ``result``; errors travel as ``RpcError`` exceptions."""

# Error codes the gateway answers with itself, in the implementation-defined server range.
DENIED = -32003  # authorization or integrity refused the call
UNAVAILABLE = -32004  # the backend owning the target is down

_NAMED_METHODS = {
    "tools/call": "name",
    "prompts/get": "name",
    "resources/read": "uri",
    "resources/subscribe": "uri",
    "resources/unsubscribe": "uri",
}
CLEANUP = "cleanup"
"""``Call.notes`` key marking a call the gateway makes itself to let go of what a session or listen stream held
when it ended (its value says which): audited like any call, never refused, since it grants nothing."""


@dataclass
class Call:
    """One client request as the links see it."""

    method: str
    params: dict[str, Any]
    caller: Caller = ANONYMOUS
    request_id: str | int | None = None
    session_id: str | None = None
    protocol_version: str | None = None
    client_name: str | None = None
    exchange: Exchange | None = None  # the client side, for the backend's mid-call requests
    backend: str | None = None  # filled in by the router: which backend answered
    started: float = field(default_factory=time.perf_counter)
    notes: dict[str, Any] = field(default_factory=dict)  # links annotate for audit (e.g. integrity flags)

    @property
    def target(self) -> str | None:
        """The tool or prompt name, or the resource URI, this call is about (None for lists)."""
        key = _NAMED_METHODS.get(self.method)
        value = self.params.get(key) if key else None
        return value if isinstance(value, str) else None

    @property
    def cleanup(self) -> bool:
        return CLEANUP in self.notes

    @property
    def arguments(self) -> dict[str, Any]:
        value = self.params.get("arguments")
        return value if isinstance(value, dict) else {}


Handler = Callable[[Call], Awaitable[Result]]


class Middleware(Protocol):
    async def __call__(self, call: Call, call_next: Handler) -> Result: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a call ended, labelled once for audit lines, metrics and spans alike."""

    label: str  # ok | tool_error | denied | error | cancelled
    code: int | None = None  # the JSON-RPC error code the client was answered with, for errors
    message: str | None = None

    @classmethod
    def of_result(cls, call: Call, result: Result) -> Outcome:
        # A tool that ran and reported failure answered correctly; it is not a gateway error.
        failed_tool = call.method == "tools/call" and result.get("isError") is True
        return cls("tool_error") if failed_tool else OK

    @classmethod
    def of_error(cls, call: Call, exc: BaseException) -> Outcome:
        if isinstance(exc, RpcError):
            return cls("denied" if call.notes.get("denied_by") else "error", exc.code, exc.message)
        if isinstance(exc, asyncio.CancelledError):
            return cls("cancelled")  # the client went away or cancelled; nobody is answered
        return cls("error", INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")


OK = Outcome("ok")


async def observe(call: Call, call_next: Handler, record: Callable[[Outcome, Result | None], None]) -> Result:
    """Pass ``call`` on and hand its outcome (and result, if any) to ``record``, however it ends."""
    outcome, result = OK, None
    try:
        result = await call_next(call)
        outcome = Outcome.of_result(call, result)
        return result
    except BaseException as exc:
        outcome = Outcome.of_error(call, exc)
        raise
    finally:
        record(outcome, result)


def build_chain(links: Sequence[Middleware], terminal: Handler) -> Handler:
    """Compose ``links`` (outermost first) around ``terminal``."""
    handler = terminal
    for link in reversed(links):
        handler = _bind(link, handler)
    return handler


def _bind(link: Middleware, call_next: Handler) -> Handler:
    async def handle(call: Call) -> Result:
        return await link(call, call_next)

    return handle


__all__ = [
    "CLEANUP",
    "DENIED",
    "UNAVAILABLE",
    "Call",
    "Handler",
    "Middleware",
    "Outcome",
    "Result",
    "RpcError",
    "build_chain",
    "observe",
]

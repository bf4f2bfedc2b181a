"""Audit link: one NDJSON line per MCP request (who, client, method, target, backend, outcome, duration,
sizes), to a file and/or stdout. Arguments are recorded only when configured, with secrets redacted."""

from __future__ import annotations

import re
import sys
import time
from datetime import UTC, datetime
from functools import partial
from typing import IO, Any

import orjson

from hivekeeper.gateway.chain import Call, Handler, Outcome, Result, observe
from hivekeeper.gateway.config import AuditConfig

REDACTED = "[REDACTED]"
_SECRET_KEYS = r"pass(word|phrase)?|secret|token|api[_-]?key|authorization|credential|private[_-]?key|cookie"


class AuditLog:
    """Writes events; shared by the audit link and by alerts (integrity) that happen outside requests."""

    def __init__(self, config: AuditConfig) -> None:
        self.config = config
        self._secret = re.compile("|".join([_SECRET_KEYS, *config.redact_keys]), re.IGNORECASE)
        self._sinks: list[IO[bytes]] = []
        if config.file is not None:
            config.file.parent.mkdir(parents=True, exist_ok=True)
            self._sinks.append(open(config.file, "ab", buffering=0))  # noqa: SIM115 - held for the log's life
        if config.stdout:
            self._sinks.append(sys.stdout.buffer)

    def emit(self, event: dict[str, Any]) -> None:
        line = orjson.dumps({"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), **event}) + b"\n"
        for sink in self._sinks:
            sink.write(line)  # one write per line: concurrent writers never interleave within a line
        if self.config.stdout:
            sys.stdout.flush()

    def redact(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: REDACTED if self._secret.search(str(k)) else self.redact(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.redact(item) for item in value]
        return value

    def close(self) -> None:
        for sink in self._sinks:
            if sink is not sys.stdout.buffer:
                sink.close()
        self._sinks.clear()


class Audit:
    """The chain link. Placed outside authorization, so denials are audited too."""

    def __init__(self, log: AuditLog) -> None:
        self.log = log

    async def __call__(self, call: Call, call_next: Handler) -> Result:
        return await observe(call, call_next, partial(self._record, call))

    def _record(self, call: Call, outcome: Outcome, result: Result | None) -> None:
        event: dict[str, Any] = {
            "event": "mcp_request",
            "request_id": call.request_id,
            "session_id": call.session_id,
            "subject": call.caller.subject,
            "auth": call.caller.method,
            "client": call.client_name,
            "method": call.method,
            "target": call.target,
            "backend": call.backend,
            "outcome": outcome.label,
            "duration_ms": round((time.perf_counter() - call.started) * 1000, 3),
            "request_bytes": len(orjson.dumps(call.params)),
            "response_bytes": len(orjson.dumps(result)) if result is not None else 0,
        }
        if outcome.code is not None:
            event["error"] = {"code": outcome.code, "message": outcome.message}
        if self.log.config.arguments and call.arguments:
            event["arguments"] = self.log.redact(call.arguments)
        event.update(call.notes)
        self.log.emit(event)

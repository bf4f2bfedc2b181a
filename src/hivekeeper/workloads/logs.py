"""Per-workload log files: the servers' stderr plus the manager's lifecycle lines, secrets redacted.

A server may print its environment (a debug dump, a crash report): every injected secret value is
replaced before the line reaches disk, so the log never becomes a copy of the secret store.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

MAX_BYTES = 5 * 1024 * 1024
REDACTED = "<redacted>"
_MIN_SECRET_LENGTH = 4  # shorter values would turn every log line into confetti


def redact(text: str, secrets: Iterable[str]) -> str:
    for value in sorted((s for s in secrets if len(s) >= _MIN_SECRET_LENGTH), key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """Redacts secret values from every log record of the manager process (other modules log server
    stderr lines too, e.g. the bridge when a backend dies)."""

    def __init__(self, secrets: Callable[[], Iterable[str]]) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message, self._secrets())
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class WorkloadLog:
    """Append-only, rotated once at ``MAX_BYTES`` (one ``.1`` generation kept)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._secrets: tuple[str, ...] = ()

    def set_secrets(self, values: Iterable[str]) -> None:
        self._secrets = tuple(values)

    @property
    def secrets(self) -> tuple[str, ...]:
        return self._secrets

    def redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def write(self, line: str, *, origin: str = "server") -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        text = f"{stamp} {origin}: {self.redact(line.rstrip())}\n"
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            if self.path.stat().st_size > MAX_BYTES:
                os.replace(self.path, self.path.with_suffix(".log.1"))
        except FileNotFoundError:
            pass
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, text.encode("utf-8", "replace"))
        finally:
            os.close(fd)

    def remove(self) -> None:
        for path in (self.path, self.path.with_suffix(".log.1")):
            path.unlink(missing_ok=True)

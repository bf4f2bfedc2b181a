"""Errors every part raises so the CLI and servers can report them in one line.

Exit codes mean the same thing in every command, so scripts can branch on them.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1
    USAGE = 2  # bad flags, bad config, bad input
    NOT_FOUND = 3  # unknown server, workload, secret, source
    CONFLICT = 4  # already exists, port in use
    UNAVAILABLE = 5  # a required tool or runtime is not installed / not reachable
    TIMEOUT = 6  # did not become ready in time
    DENIED = 7  # refused by policy, integrity or signature checks


class HivekeeperError(Exception):
    """An expected failure with a message fit for the user and a meaningful exit code."""

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str, *, exit_code: ExitCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class ConfigError(HivekeeperError):
    exit_code = ExitCode.USAGE


class NotFoundError(HivekeeperError):
    exit_code = ExitCode.NOT_FOUND


class ConflictError(HivekeeperError):
    exit_code = ExitCode.CONFLICT


class UnavailableError(HivekeeperError):
    exit_code = ExitCode.UNAVAILABLE


class ReadyTimeoutError(HivekeeperError):
    exit_code = ExitCode.TIMEOUT


class DeniedError(HivekeeperError):
    exit_code = ExitCode.DENIED

"""The environment secret provider (read-only): secret ``db-password`` is ``HIVEKEEPER_SECRET_DB_PASSWORD``.

A prefix keeps unrelated variables of the process (cloud credentials, tokens) out of reach of a
``--secret`` reference by accident.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from hivekeeper.errors import ConfigError

PREFIX = "HIVEKEEPER_SECRET_"


def variable_for(name: str) -> str:
    return PREFIX + re.sub(r"[^A-Z0-9_]", "_", name.upper())


class EnvironmentProvider:
    name = "environment"
    writable = False

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ if environ is not None else os.environ

    def names(self) -> list[str]:
        return sorted(key[len(PREFIX) :].lower() for key in self._environ if key.startswith(PREFIX))

    def get(self, name: str) -> str | None:
        return self._environ.get(variable_for(name))

    def set(self, name: str, value: str) -> None:
        raise ConfigError(f"the environment secret provider is read-only: export {variable_for(name)}")

    def remove(self, name: str) -> None:
        raise ConfigError(f"the environment secret provider is read-only: unset {variable_for(name)} instead")

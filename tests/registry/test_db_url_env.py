"""The registry's database URL can come from the environment, so a secret never sits in a config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from hivekeeper.registry.db import DATABASE_URL_VARIABLE, default_database_url


def test_environment_url_wins_over_the_sqlite_default(monkeypatch: pytest.MonkeyPatch, hivekeeper_home: Path) -> None:
    monkeypatch.delenv(DATABASE_URL_VARIABLE, raising=False)
    assert default_database_url() == f"sqlite:///{hivekeeper_home / 'data' / 'registry.db'}"
    monkeypatch.setenv(DATABASE_URL_VARIABLE, "postgresql+psycopg://hk@db/registry")
    assert default_database_url() == "postgresql+psycopg://hk@db/registry"

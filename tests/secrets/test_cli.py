from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hivekeeper.cli.app import app
from hivekeeper.errors import NotFoundError

CANARY = "canary-cli-51d2e0"


def test_secret_commands_end_to_end(hivekeeper_home: Path, isolated_keyring: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["secret", "set", "db-password"], input=CANARY + "\n").exit_code == 0
    listed = runner.invoke(app, ["secret", "list", "--json"])
    assert json.loads(listed.stdout) == [{"name": "db-password", "provider": "encrypted-file"}]
    assert CANARY not in listed.stdout
    assert runner.invoke(app, ["secret", "get", "db-password"]).stdout == CANARY + "\n"
    for file in hivekeeper_home.rglob("*"):
        if file.is_file():
            assert CANARY.encode() not in file.read_bytes(), file
    assert runner.invoke(app, ["secret", "rm", "db-password"]).exit_code == 0
    assert isinstance(runner.invoke(app, ["secret", "get", "db-password"]).exception, NotFoundError)


def test_missing_secret_is_one_line_exit_3(hivekeeper_home: Path, isolated_keyring: Path) -> None:
    missing = subprocess.run(
        [sys.executable, "-m", "hivekeeper", "secret", "get", "db-password"],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert missing.returncode == 3
    assert missing.stderr.count("\n") == 1 and "db-password" in missing.stderr


def test_env_provider_cannot_be_written(
    hivekeeper_home: Path, isolated_keyring: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HIVEKEEPER_SECRET_FROM_ENV", "v")
    runner = CliRunner()
    listed = runner.invoke(app, ["secret", "list", "--json"])
    assert {"name": "from_env", "provider": "environment"} in json.loads(listed.stdout)
    assert runner.invoke(app, ["secret", "get", "from_env"]).stdout == "v\n"
    assert "read-only" in str(runner.invoke(app, ["secret", "rm", "from_env"]).exception)

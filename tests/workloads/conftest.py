"""A real manager daemon per test, in the test's own hivekeeper home."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from hivekeeper.workloads.control import ManagerClient
from tests.workloads.workload_helpers import manager_pid, stop_manager


@pytest.fixture
def manager(hivekeeper_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ManagerClient]:
    """A real manager daemon in this test's home, stopped (and its servers with it) afterwards."""
    monkeypatch.setenv("HIVEKEEPER_RESTART_LIMIT", "2")
    monkeypatch.setenv("HIVEKEEPER_SECRETS_PASSPHRASE", "workload-tests-passphrase")
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    # No docker engine unless a test brings its own: "runtime not available" stays deterministic.
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/hivekeeper-tests-no-docker.sock")
    client = ManagerClient().ensure_running()
    yield client
    with contextlib.suppress(Exception):
        stop_manager(manager_pid())

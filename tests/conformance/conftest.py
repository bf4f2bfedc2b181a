"""Runs the official MCP conformance suite's server scenarios, once per requirement set, against the
conformance fixture served directly by the SDK and through `hivekeeper proxy` (session-scoped: each
run takes a few seconds and every test reads the same results)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.conformance.suite import CONFORMANCE_SERVER, REVISIONS, SuiteRun, run_suite
from tests.conftest import free_port, running_proxy, wait_for_http


@pytest.fixture(scope="session")
def direct_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SuiteRun]]:
    """The suite against the fixture served over Streamable HTTP by the SDK itself: the baseline."""
    port = free_port()
    logs = tmp_path_factory.mktemp("conformance-direct")
    with (logs / "server.log").open("wb") as log:
        server = subprocess.Popen([*CONFORMANCE_SERVER, "--http", str(port)], stdout=log, stderr=log)
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        wait_for_http(url)
        yield {rev: run_suite(url, rev, logs / rev, "the fixture served by the SDK") for rev in REVISIONS}
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="session")
def proxy_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SuiteRun]]:
    """The suite against `hivekeeper proxy -- python tests/fixtures/conformance_server.py` (stdio backend)."""
    logs = tmp_path_factory.mktemp("conformance-proxy")
    with running_proxy("--", *CONFORMANCE_SERVER, logs=logs) as url:
        yield {rev: run_suite(url, rev, logs / rev, "hivekeeper proxy (stdio fixture)") for rev in REVISIONS}

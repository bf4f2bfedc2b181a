"""Portal fixtures: a real ``hivekeeper serve`` process, a real MCP server to run, headless Chromium."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from hivekeeper.workloads.control import ManagerClient
from tests.conftest import ECHO_SERVER, REPO, free_port, wait_for_http

TOKEN = "portal-test-token-0123456789"
ARTIFACTS = REPO / "test-artifacts" / "portal"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@dataclass
class Portal:
    url: str
    home: Path
    audit_file: Path
    env: dict[str, str]

    def publish(self, document: dict[str, Any]) -> dict[str, Any]:
        response = httpx.post(f"{self.url}/v0.1/publish", json=document, headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def _stop_manager(env: dict[str, str]) -> None:
    """Stop the workloads manager the portal started for this test's HIVEKEEPER_HOME (by its pid)."""
    probe = (
        "from hivekeeper.workloads.control import ManagerClient\n"
        "try:\n    print(ManagerClient().call('ping', timeout=5)['pid'])\n"
        "except Exception:\n    pass\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=30)
    if done.stdout.strip().isdigit():
        os.kill(int(done.stdout.strip()), signal.SIGTERM)


@contextmanager
def serving(tmp_path: Path, **registry: Any) -> Iterator[Portal]:
    """``hivekeeper serve`` in its own home under ``tmp_path``, with a verified publish token and these
    ``registry`` settings; stopped afterwards, with the workloads manager it started."""
    home = tmp_path / "home"
    audit_file = tmp_path / "audit.ndjson"
    config = tmp_path / "serve.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "registry": {"publish_tokens": [{"token": TOKEN, "tier": "verified", "label": "ci"}], **registry},
                "portal": {"audit_file": str(audit_file)},
            }
        )
    )
    port = free_port()
    env = {**os.environ, "HIVEKEEPER_HOME": str(home), "PYTHONPATH": str(REPO / "src")}
    process = subprocess.Popen(
        [sys.executable, "-m", "hivekeeper", "serve", "--port", str(port), "--config", str(config)], env=env
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", timeout=60)
        yield Portal(f"http://127.0.0.1:{port}", home, audit_file, env)
    finally:
        process.terminate()
        process.wait(timeout=15)
        _stop_manager(env)


def portal_manager(portal: Portal, monkeypatch: pytest.MonkeyPatch) -> ManagerClient:
    """A client of the workloads manager the portal started, reached through the portal's home."""
    monkeypatch.setenv("HIVEKEEPER_HOME", str(portal.home))
    return ManagerClient()


def repin(database: Path, name: str, digest: str) -> None:
    """Change an entry's pinned sha256 behind the server's back (what a tampered registry looks like)."""
    connection = sqlite3.connect(database)
    with connection:
        connection.execute(
            "UPDATE server_versions SET server_json = json_set(server_json, '$.packages[0].fileSha256', ?) "
            "WHERE name = ?",
            (digest, name),
        )
    connection.close()


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    """One ``hivekeeper serve`` per test module (starting one costs seconds on a busy machine)."""
    with serving(tmp_path_factory.mktemp("portal")) as running:
        yield running


ECHO_TOOLS = [
    {
        "name": "echo",
        "description": "Echo the given text back unchanged.",
        "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    },
    {
        "name": "add",
        "description": "Add two integers and return their sum.",
        "inputSchema": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    },
]


def echo_entry(url: str, name: str = "io.github.hivekeeper-tests/echo") -> dict[str, Any]:
    """A registry entry for the echo server (``echo_url``) as a remote."""
    return {
        "name": name,
        "title": "Echo test server",
        "description": "A real MCP server over Streamable HTTP with echo and add tools.",
        "version": "1.0.0",
        "remotes": [{"type": "streamable-http", "url": url}],
        "_meta": {"dev.hivekeeper/server": {"tools": ECHO_TOOLS, "permissionProfile": {}}},
    }


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([*ECHO_SERVER, "--http", str(port)])
    try:
        wait_for_http(f"http://127.0.0.1:{port}/mcp", timeout=30)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)


# Package scope, not session: Playwright's sync API keeps an event loop running in the main thread
# while it is open, which breaks every later asyncio test in the run.
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail("Debian chromium missing: run scripts/setup.sh test (installs 'chromium')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    yield opened
    context.close()


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

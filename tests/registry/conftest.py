"""Registry test fixtures: the same suite runs against SQLite and a real PostgreSQL started here."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from hivekeeper.registry import PublishToken, RegistrySettings, open_registry
from hivekeeper.registry.curation import TrustTier
from tests.conftest import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
ADMIN_TOKEN = "admin-token-0123456789abcdef"
ACME_TOKEN = "acme-token-0123456789abcdef"


class PostgresServer:
    """A throwaway PostgreSQL cluster from Debian's binaries, on a free loopback port."""

    def __init__(self) -> None:
        self.port = free_port()
        # Each test gets its own database (a copy of template1, ~7 MB): keep the cluster in memory when possible.
        shm = Path("/dev/shm")
        self.root = Path(
            tempfile.mkdtemp(prefix="hk-pg-", dir=shm if shm.is_dir() and os.access(shm, os.W_OK) else None)
        )
        self.data = self.root / "data"
        # initdb refuses to run as root: run the binaries as the postgres (or nobody) user.
        self.user = (
            next((name for name in ("postgres", "nobody") if _user_exists(name)), None) if os.geteuid() == 0 else None
        )

    def _run(self, *args: str) -> None:
        command = list(args)
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "hk", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=on"
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start"
        )

    def stop(self) -> None:
        try:
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def new_database(self) -> str:
        name = f"hk_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"postgresql://hk@127.0.0.1:{self.port}/postgres", autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://hk@127.0.0.1:{self.port}/{name}"


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    if not (PG_BIN / "initdb").exists():
        pytest.fail("PostgreSQL 15 binaries missing: run scripts/setup.sh test (installs Debian 'postgresql')")
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database()


def registry_settings(database_url: str, **overrides: Any) -> RegistrySettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "starter_catalogue": False,
        "publish_tokens": [
            PublishToken(token=ADMIN_TOKEN, tier=TrustTier.VERIFIED, label="admin"),
            PublishToken(token=ACME_TOKEN, namespaces=["io.github.acme/*"], label="acme"),
        ],
    }
    values.update(overrides)
    return RegistrySettings(**values)


@pytest.fixture
def make_client(database_url: str) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        registry = open_registry(registry_settings(database_url, **overrides))
        app = Starlette(routes=registry.api.routes())
        app.state.registry = registry
        client = TestClient(app)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.app.state.registry.store.close()  # type: ignore[attr-defined]


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def server_json(name: str = "io.github.acme/weather", version: str = "1.0.0", **extra: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
        "name": name,
        "description": f"Weather forecasts ({name})",
        "version": version,
        "packages": [
            {
                "registryType": "pypi",
                "identifier": "acme-weather-mcp",
                "version": version,
                "fileSha256": "a" * 64,
                "transport": {"type": "stdio"},
                "environmentVariables": [
                    {"name": "WEATHER_API_KEY", "isRequired": True, "isSecret": True, "description": "API key"},
                    {"name": "WEATHER_UNITS", "default": "metric"},
                ],
            }
        ],
    }
    document.update(extra)
    return document


def auth(token: str = ADMIN_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class ServerThread:
    """An ASGI app served by uvicorn on a free loopback port, in a thread of the test process."""

    def __init__(self, app: Any) -> None:
        import threading

        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        from tests.conftest import wait_for_http

        self.thread.start()
        wait_for_http(f"{self.url}/v0.1/health")
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

"""Fixtures for runtime tests: real runtimes, loopback targets standing in for the outside world."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from hivekeeper.runtime.base import LaunchSpec, Process
from hivekeeper.runtime.docker import DockerRuntime
from hivekeeper.runtime.egress import EgressProxy
from hivekeeper.runtime.podman import PodmanRuntime
from hivekeeper.runtime.sandbox import SandboxRuntime
from tests.runtime.engine import DOCKER, PODMAN, EngineKind, EngineUnavailable, container_engine, ensure_python_image
from tests.runtime.runtime_helpers import ALLOWED_HOST


class _AllowedHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello from the allowed host"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def allowed_http_port() -> Iterator[int]:
    """An HTTP server on host loopback standing in for an allowlisted internet host."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _AllowedHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield int(httpd.server_address[1])
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def host_service_port() -> Iterator[int]:
    """A host loopback service (think: a database bound to 127.0.0.1) no sandbox may reach."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield int(listener.getsockname()[1])
    listener.close()


def make_test_proxy() -> EgressProxy:
    return EgressProxy(resolver_overrides={ALLOWED_HOST: "127.0.0.1"})


@pytest.fixture
def sandbox(tmp_path: Path) -> SandboxRuntime:
    runtime = SandboxRuntime(proxy=make_test_proxy(), state_root=tmp_path / "sandbox-state")
    reason = runtime.unavailable_reason()
    if reason:
        pytest.skip(f"sandbox runtime unavailable: {reason}")
    return runtime


@dataclass(frozen=True)
class Engine:
    base_url: str
    image: str


def _engine(kind: EngineKind, factory: pytest.TempPathFactory) -> Iterator[Engine | str]:
    log = factory.mktemp(kind.name) / f"{kind.name}.log"
    try:
        with container_engine(kind, log) as base_url:
            image = ensure_python_image(DockerRuntime(base_url=base_url).client)
            yield Engine(base_url, image)
    except EngineUnavailable as exc:
        yield str(exc)


@pytest.fixture(scope="session")
def docker_engine_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine | str]:
    """A private dockerd for the whole session (stopped at the end) and the offline-built test image;
    or, when the engine cannot start here, the reason (tests using it are skipped with it)."""
    yield from _engine(DOCKER, tmp_path_factory)


@pytest.fixture(scope="session")
def podman_engine_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine | str]:
    """The same with a private Podman API service."""
    yield from _engine(PODMAN, tmp_path_factory)


class ImageDefaultingDockerRuntime(DockerRuntime):
    """Runs specs that name no image in the test image, so one spec serves every runtime under test."""

    def __init__(self, image: str, **options: Any) -> None:
        super().__init__(**options)
        self.image = image

    async def launch(self, spec: LaunchSpec) -> Process:
        return await super().launch(spec if spec.image else replace(spec, image=self.image))


class ImageDefaultingPodmanRuntime(ImageDefaultingDockerRuntime, PodmanRuntime):
    pass


@pytest.fixture
def docker(docker_engine_image: Engine | str) -> DockerRuntime:
    if isinstance(docker_engine_image, str):
        pytest.skip(f"docker engine unavailable: {docker_engine_image}")
    return ImageDefaultingDockerRuntime(
        docker_engine_image.image, base_url=docker_engine_image.base_url, proxy=make_test_proxy()
    )


@pytest.fixture
def podman(podman_engine_image: Engine | str) -> PodmanRuntime:
    if isinstance(podman_engine_image, str):
        pytest.skip(f"podman engine unavailable: {podman_engine_image}")
    return ImageDefaultingPodmanRuntime(
        podman_engine_image.image, base_url=podman_engine_image.base_url, proxy=make_test_proxy()
    )

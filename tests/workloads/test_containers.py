"""A container image as SOURCE (--runtime docker), through the manager, against a real private dockerd."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hivekeeper.runtime.docker import DockerRuntime
from hivekeeper.runtime.mounts import interpreter_mounts
from hivekeeper.workloads.control import ManagerClient
from hivekeeper.workloads.state import sandbox_name
from tests.runtime.engine import DOCKER, EngineUnavailable, container_engine, ensure_python_image
from tests.workloads.workload_helpers import TESTS_VOLUME, TINY_SERVER, RawSession, manager_pid, stop_manager


@pytest.fixture(scope="module")
def docker_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The isolation tests' private dockerd (started here, or reused when already up) and test image."""
    try:
        with container_engine(DOCKER, tmp_path_factory.mktemp("dockerd") / "dockerd.log") as base_url:
            yield base_url, ensure_python_image(DockerRuntime(base_url=base_url).client)
    except EngineUnavailable as exc:
        pytest.skip(f"docker engine unavailable: {exc}")


def test_image_source_runs_in_docker_and_rm_removes_the_container(
    docker_engine: tuple[str, str], hivekeeper_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url, image = docker_engine
    monkeypatch.setenv("DOCKER_HOST", base_url)
    monkeypatch.setenv("HIVEKEEPER_SECRET_BOX_TOKEN", "from-the-environment-provider")
    client = ManagerClient().ensure_running()
    try:
        # The test image holds only C libraries; the interpreter and the fixture are mounted read-only.
        volumes = [f"{m.host}:{m.target}:ro" for m in interpreter_mounts(Path(sys.executable))] + [TESTS_VOLUME]
        spec = {
            "name": "boxed",
            "source": image,
            "runtime": "docker",
            "args": [sys.executable, str(TINY_SERVER)],
            "volumes": volumes,
            "secrets": ["box-token,target=TOKEN"],
            "memory": "128m",
        }
        record = client.call("run", spec_document=spec)
        session = RawSession(str(record["url"]))
        assert session.text("echo", {"text": "from a container"}) == "from a container"
        assert session.text("env", {"name": "TOKEN"}) == "from-the-environment-provider"
        session.close()
        engine = DockerRuntime(base_url=base_url).client
        assert [c.name for c in engine.containers.list(all=True, filters={"name": sandbox_name("boxed", 0)})] == [
            f"hivekeeper-{sandbox_name('boxed', 0)}"
        ]
        client.call("rm", name="boxed")
        assert engine.containers.list(all=True, filters={"name": sandbox_name("boxed", 0)}) == []
    finally:
        stop_manager(manager_pid())


def test_a_registry_image_entry_runs_only_pinned_by_digest(
    docker_engine: tuple[str, str], hivekeeper_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under --runtime docker a registry name resolves too (the portal starts image entries that way), so the
    entry's image pin applies: an image without a digest is refused before the engine is asked for it."""
    from hivekeeper.errors import DeniedError
    from hivekeeper.registry import RegistrySettings, open_registry

    base_url, _ = docker_engine
    monkeypatch.setenv("DOCKER_HOST", base_url)
    store = open_registry(RegistrySettings()).store
    store.publish(
        {
            "name": "io.github.hivekeeper-tests/unpinned-image",
            "description": "An image entry without a digest.",
            "version": "1.0.0",
            "packages": [
                {"registryType": "oci", "identifier": "example.org/thing:1.0", "transport": {"type": "stdio"}}
            ],
        }
    )
    store.close()
    client = ManagerClient().ensure_running()
    try:
        spec = {"name": "unpinned", "source": "io.github.hivekeeper-tests/unpinned-image", "runtime": "docker"}
        with pytest.raises(DeniedError) as refused:
            client.call("run", spec_document=spec)
        assert refused.value.message == (
            "io.github.hivekeeper-tests/unpinned-image@1.0.0: image example.org/thing:1.0 is not pinned by digest; "
            "refusing an unverifiable artifact"
        )
        assert client.call("list") == []
    finally:
        stop_manager(manager_pid())

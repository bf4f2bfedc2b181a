"""uvx:// and npx:// sources: installed from PyPI/npm outside the sandbox, run inside it read-only."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hivekeeper.workloads.control import ManagerClient
from tests.workloads.workload_helpers import mcp_call


@pytest.mark.slow
def test_uvx_and_npx_packages_run_sandboxed(manager: ManagerClient, hivekeeper_home: Path) -> None:
    def run(source: str, name: str) -> dict[str, object]:
        return dict(ManagerClient().call("run", spec_document={"name": name, "source": source}))

    with ThreadPoolExecutor(max_workers=2) as pool:
        time_server = pool.submit(run, "uvx://mcp-server-time", "time")
        memory_server = pool.submit(run, "npx://@modelcontextprotocol/server-memory", "memory")
        records = {"time": time_server.result(), "memory": memory_server.result()}

    assert "get_current_time" in mcp_call(str(records["time"]["url"]))
    assert "create_entities" in mcp_call(str(records["memory"]["url"]))
    packages = hivekeeper_home / "cache" / "packages"
    assert (packages / "time" / "bin" / "mcp-server-time").exists()
    assert (packages / "memory" / "node_modules" / "@modelcontextprotocol" / "server-memory").is_dir()

    # rm leaves nothing: the per-server package cache goes with the workload.
    for name in ("time", "memory"):
        manager.call("rm", name=name)
        assert not (packages / name).exists()


def test_a_package_that_does_not_exist_is_one_clean_error(manager: ManagerClient, hivekeeper_home: Path) -> None:
    from hivekeeper.errors import NotFoundError

    with pytest.raises(NotFoundError, match=r"uvx://hivekeeper-no-such-package-4f1c: install failed"):
        manager.call("run", spec_document={"name": "ghost", "source": "uvx://hivekeeper-no-such-package-4f1c"})
    assert manager.call("list") == []
    assert not (hivekeeper_home / "cache" / "packages" / "ghost").exists()

"""Registry names as SOURCE: ``hivekeeper run NAME`` runs the entry's pinned package, and only that artifact.

Real manager, real registry database in the test's home (starter catalogue), real install from PyPI
(pip's and uv's caches make it quick on a warm machine).
"""

from __future__ import annotations

import copy
import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from hivekeeper.registry import RegistrySettings, open_registry
from hivekeeper.registry.starter import starter_entries
from hivekeeper.workloads.control import ManagerClient
from hivekeeper.workloads.state import logs_dir, workloads_dir
from tests.workloads.workload_helpers import hk_process, mcp_call

TIME = "io.modelcontextprotocol/time"
WRONG_DIGEST = "0" * 64


def _starter(name: str) -> dict[str, object]:
    return next(entry for entry in starter_entries() if entry["name"] == name)


def _one_line_denial(outcome: subprocess.CompletedProcess[str]) -> str:
    assert outcome.returncode == 7, outcome.stderr
    lines = outcome.stderr.strip().splitlines()
    assert len(lines) == 1, outcome.stderr
    return lines[0]


def _empty(folder: Path) -> bool:
    return not folder.exists() or not any(folder.iterdir())


@pytest.mark.slow
def test_a_registry_name_runs_its_pinned_package(manager: ManagerClient, hivekeeper_home: Path) -> None:
    started = hk_process("run", TIME, "--json", timeout=240)
    assert started.returncode == 0, started.stderr
    record = json.loads(started.stdout)
    pinned = _starter(TIME)["packages"][0]  # type: ignore[index]
    assert record["source"] == f"uvx://{pinned['identifier']}@{pinned['version']}"
    assert record["registry"] == f"{TIME}@{_starter(TIME)['version']}"
    assert "get_current_time" in mcp_call(record["url"])
    # The installed package is the file whose sha256 the entry pins.
    marker = json.loads((hivekeeper_home / "cache" / "packages" / record["name"] / ".hivekeeper-entry").read_text())
    assert marker["sha256"] == pinned["fileSha256"]

    # The registry entry is re-pinned behind the server's back: the next start is refused, nothing runs.
    database = sqlite3.connect(hivekeeper_home / "data" / "registry.db")
    with database:
        database.execute(
            "UPDATE server_versions SET server_json = json_set(server_json, '$.packages[0].fileSha256', ?) "
            "WHERE name = ?",
            (WRONG_DIGEST, TIME),
        )
    database.close()
    denied = _one_line_denial(hk_process("restart", record["name"]))
    assert f"does not match the pinned {pinned['identifier']}={WRONG_DIGEST}" in denied
    status = manager.call("status", name=record["name"])
    assert (status["status"], status["instances"]) == ("error", [])
    assert "does not match the pinned" in status["last_error"]
    manager.call("rm", name=record["name"])


def test_a_tampered_pin_is_refused_before_anything_starts(manager: ManagerClient, hivekeeper_home: Path) -> None:
    tampered = copy.deepcopy(_starter(TIME))
    tampered["name"] = "io.github.hivekeeper-tests/time-tampered"
    tampered["packages"][0]["fileSha256"] = WRONG_DIGEST  # type: ignore[index]
    store = open_registry(RegistrySettings()).store
    store.publish(tampered)
    store.close()

    denied = _one_line_denial(hk_process("run", "io.github.hivekeeper-tests/time-tampered", timeout=240))
    assert "artifact sha256" in denied and f"does not match the pinned mcp-server-time={WRONG_DIGEST}" in denied
    assert manager.call("list") == []
    assert _empty(workloads_dir()) and _empty(logs_dir()) and _empty(hivekeeper_home / "cache" / "packages")


def test_an_unknown_registry_name_is_one_clean_error(manager: ManagerClient) -> None:
    outcome = hk_process("run", "io.github.hivekeeper-tests/no-such-server")
    assert outcome.returncode == 3, outcome.stderr
    assert "unknown source 'io.github.hivekeeper-tests/no-such-server'" in outcome.stderr
    assert manager.call("list") == []


def test_a_registry_name_is_resolved_in_the_registry_database_named(manager: ManagerClient, tmp_path: Path) -> None:
    # An entry only another registry holds (pinned to a digest no artifact has, so nothing starts): the
    # manager finds it there when told to, as it does for the portal of a shared registry.
    other = f"sqlite:///{tmp_path / 'team-registry.db'}"
    entry = copy.deepcopy(_starter(TIME))
    entry["name"] = "io.github.hivekeeper-tests/team-time"
    entry["packages"][0]["fileSha256"] = WRONG_DIGEST  # type: ignore[index]
    store = open_registry(RegistrySettings(database_url=other)).store
    store.publish(entry)
    store.close()

    here = hk_process("run", "io.github.hivekeeper-tests/team-time")
    assert here.returncode == 3 and "not a registry name" in here.stderr, here.stderr
    there = _one_line_denial(hk_process("run", "--registry-database", other, entry["name"], timeout=240))  # type: ignore[arg-type]
    assert f"does not match the pinned mcp-server-time={WRONG_DIGEST}" in there
    empty = hk_process("run", "--registry-database", f"sqlite:///{tmp_path / 'empty.db'}", TIME)
    assert empty.returncode == 3, empty.stderr
    assert f"not an entry of the registry at sqlite:///{tmp_path / 'empty.db'}" in empty.stderr
    assert manager.call("list") == []

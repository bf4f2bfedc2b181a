"""A server that runs with unrestricted network gets the same loud warning whoever chose the profile: the
user (``--profile network``) or the registry entry it was resolved from. The CLI prints it on stderr and
``--json`` carries it as ``warnings``. Real CLI processes, a real manager, a real registry database in the
test's home, a real install of the entry's pinned PyPI package."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import yaml

from hivekeeper.policy.profiles import load_profile
from hivekeeper.registry import RegistrySettings, open_registry
from hivekeeper.registry.curation import PUBLISHER_META
from hivekeeper.registry.starter import starter_entries
from hivekeeper.workloads.control import ManagerClient
from tests.workloads.workload_helpers import TESTS_VOLUME, TINY_COMMAND, hk_process, mcp_call

NETWORKED = "io.github.hivekeeper-tests/time-networked"
OPEN_NETWORK = load_profile("network").warning


def publish_networked_time() -> str:
    """The starter ``time`` entry (a small pinned PyPI package) re-published asking for open egress, the way
    ``fetch`` does; returns ``NAME@VERSION``."""
    entry = copy.deepcopy(next(e for e in starter_entries() if e["name"] == "io.modelcontextprotocol/time"))
    entry["name"] = NETWORKED
    entry["_meta"][PUBLISHER_META]["permissionProfile"] = {"network": {"outbound": {"insecureAllowAll": True}}}
    store = open_registry(RegistrySettings()).store
    try:
        store.publish(entry)
    finally:
        store.close()
    return f"{NETWORKED}@{entry['version']}"


def warning_lines(stderr: str) -> list[str]:
    # Rich wraps nothing here (soft_wrap), so each warning is one line.
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


def test_a_registry_entry_asking_for_open_network_is_warned_about(manager: ManagerClient) -> None:
    assert OPEN_NETWORK is not None
    reference = publish_networked_time()

    started = hk_process("run", NETWORKED, "--json", timeout=240)
    assert started.returncode == 0, started.stderr
    record = json.loads(started.stdout)
    expected = f"{OPEN_NETWORK}; asked for by the registry entry {reference} (override it with --profile)"
    assert record["warnings"] == [expected]
    assert warning_lines(started.stderr) == [f"warning: {expected}"]
    assert "get_current_time" in mcp_call(record["url"])
    assert yaml.safe_load(hk_process("export", record["name"]).stdout)["profile"] == "network"

    # The user's own profile wins over the entry's: no open network, nothing to warn about.
    quiet = hk_process("run", "--name", "quiet", "--profile", "none", NETWORKED, timeout=240)
    assert quiet.returncode == 0, quiet.stderr
    assert warning_lines(quiet.stderr) == []
    assert quiet.stdout.startswith("quiet running at http://127.0.0.1:")


def test_a_local_command_with_the_network_profile_gets_the_same_warning(manager: ManagerClient, tmp_path: Path) -> None:
    started = hk_process("run", "--profile", "network", "--json", "--volume", TESTS_VOLUME, "--", *TINY_COMMAND)
    assert started.returncode == 0, started.stderr
    assert json.loads(started.stdout)["warnings"] == [OPEN_NETWORK]
    assert warning_lines(started.stderr) == [f"warning: {OPEN_NETWORK}"]

    plain = hk_process("run", "--name", "plain", "--json", "--volume", TESTS_VOLUME, "--", *TINY_COMMAND)
    assert plain.returncode == 0, plain.stderr
    assert json.loads(plain.stdout)["warnings"] == []
    assert warning_lines(plain.stderr) == []


def test_allowing_every_host_is_warned_about_like_the_network_profile(manager: ManagerClient) -> None:
    started = hk_process("run", "--allow-host", "*", "--json", "--volume", TESTS_VOLUME, "--", *TINY_COMMAND)
    assert started.returncode == 0, started.stderr
    [warning] = json.loads(started.stdout)["warnings"]
    assert "--allow-host '*'" in warning and "UNRESTRICTED" in warning
    assert warning_lines(started.stderr) == [f"warning: {warning}"]

    # a named host is an allowlist, not open network: nothing to warn about
    listed = hk_process(
        "run",
        "--name",
        "listed",
        "--allow-host",
        "example.com:443",
        "--json",
        "--volume",
        TESTS_VOLUME,
        "--",
        *TINY_COMMAND,
    )
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["warnings"] == []


def test_limits_a_runtime_cannot_enforce_are_warned_about(manager: ManagerClient) -> None:
    unisolated = hk_process(
        "run", "--runtime", "process", "--memory", "256m", "--json", "--volume", TESTS_VOLUME, "--", *TINY_COMMAND
    )
    assert unisolated.returncode == 0, unisolated.stderr
    [warning] = json.loads(unisolated.stdout)["warnings"]
    assert "NOT enforced" in warning and "--runtime process" in warning
    assert warning_lines(unisolated.stderr) == [f"warning: {warning}"]

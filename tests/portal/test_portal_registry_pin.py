"""A server started from the portal is a registry workload like ``hivekeeper run NAME``: it records the entry,
runs only the artifact the entry pins, is refused at the next start once that artifact or pin changes, and
its open-network warning is on the page in the CLI's words, on the run form before it runs and after.

Real ``hivekeeper serve``, real headless Chromium, the real manager the portal starts, a real install of
the starter ``time`` entry's pinned PyPI wheel (re-published asking for open network, as ``fetch`` does).
"""

from __future__ import annotations

import copy
import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from hivekeeper.policy.profiles import load_profile
from hivekeeper.registry.curation import PUBLISHER_META
from hivekeeper.registry.starter import starter_entries
from tests.portal.conftest import Portal, portal_manager, repin, screenshot
from tests.workloads.workload_helpers import mcp_call

NETWORKED = "io.github.hivekeeper-tests/time-networked"
WRONG_DIGEST = "0" * 64
INSTALL_TIMEOUT_MS = 300_000  # a cold install from PyPI on a busy 2-core machine


@pytest.fixture(scope="module")
def networked_time(portal: Portal) -> dict[str, Any]:
    entry = copy.deepcopy(next(e for e in starter_entries() if e["name"] == "io.modelcontextprotocol/time"))
    entry["name"] = NETWORKED
    entry["_meta"][PUBLISHER_META]["permissionProfile"] = {"network": {"outbound": {"insecureAllowAll": True}}}
    portal.publish(entry)
    return entry


def _run_from_portal(page: Any, portal: Portal, name: str) -> None:
    page.goto(f"{portal.url}/portal/servers/{NETWORKED}")
    page.fill("#name", name)
    page.click("#run-button")


def _act(page: Any, name: str, action: str) -> None:
    page.locator(f"tr[data-workload={name}]").get_by_role("button", name=f"{action} {name}").click()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_portal_run_is_pinned_to_its_entry_and_warned_about(
    portal: Portal, networked_time: dict[str, Any], page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = f"{NETWORKED}@{networked_time['version']}"
    pinned = networked_time["packages"][0]
    manager = portal_manager(portal, monkeypatch)
    open_network = load_profile("network").warning
    expected = f"{open_network}; asked for by the registry entry {reference} (override it with --profile)"

    # What the portal will do is what the CLI does with the entry's name, and it says so before it runs.
    page.goto(f"{portal.url}/portal/servers/{NETWORKED}")
    assert reference in page.locator("#run-source").inner_text()
    assert page.locator("#launch-warnings p").all_inner_texts() == [f"warning: {expected}"]
    page.fill("#name", "time-portal")
    page.click("#run-form button[value=command]")
    assert page.locator("#run-command").inner_text() == f"hivekeeper run {reference} --name time-portal"
    assert page.locator("#launch-warnings").is_visible()

    page.click("#run-button")
    page.wait_for_url(re.compile(r"/portal/workloads\?started=time-portal&run="), timeout=INSTALL_TIMEOUT_MS)
    warnings = page.locator("#run-warnings")
    assert warnings.is_visible() and warnings.get_attribute("role") == "alert"
    assert warnings.locator("p").all_inner_texts() == [f"warning: {expected}"]
    row = page.locator("tr[data-workload=time-portal]")
    assert row.locator(".status").inner_text() == "running"
    assert f"registry entry {reference}" in row.inner_text()
    screenshot(page, "09-registry-run-warned")

    # Recorded with the workload: the entry, the pinned package, the installed file's digest.
    record = manager.call("status", name="time-portal")
    assert (record["registry"], record["source"]) == (reference, f"uvx://mcp-server-time@{pinned['version']}")
    assert record["profile"] == "network"
    marker = portal.home / "cache" / "packages" / "time-portal" / ".hivekeeper-entry"
    installed = json.loads(marker.read_text())
    assert installed["sha256"] == pinned["fileSha256"]
    # Playwright's loop holds this thread: the MCP client gets its own.
    with ThreadPoolExecutor(1) as thread:
        assert "get_current_time" in thread.submit(mcp_call, str(record["url"])).result(timeout=60)

    # The installed artifact is no longer the pinned one: the next start from the portal is refused.
    _act(page, "time-portal", "stop")
    page.wait_for_url(re.compile(r"/portal/workloads$"))
    marker.write_text(json.dumps({**installed, "sha256": WRONG_DIGEST}))
    _act(page, "time-portal", "start")
    assert page.locator("h1").inner_text() == "Could not start time-portal"
    refusal = page.locator("[role=alert]").inner_text()
    assert f"artifact sha256 {WRONG_DIGEST} does not match the pinned mcp-server-time={pinned['fileSha256']}" in refusal
    marker.write_text(json.dumps(installed))

    # The registry re-pins the entry: the same refusal, at start and restart alike, and nothing runs.
    repin(portal.home / "data" / "registry.db", NETWORKED, WRONG_DIGEST)
    page.goto(f"{portal.url}/portal/workloads")
    _act(page, "time-portal", "start")
    refusal = page.locator("[role=alert]").inner_text()
    assert f"does not match the pinned mcp-server-time={WRONG_DIGEST}" in refusal
    screenshot(page, "10-registry-run-refused")
    status = manager.call("status", name="time-portal")
    assert (status["status"], status["instances"]) == ("error", [])
    assert "does not match the pinned" in status["last_error"]

    # A new run of the re-pinned entry is refused before anything of it is installed, on the run form.
    _run_from_portal(page, portal, "time-portal-2")
    page.wait_for_selector("#run-error", timeout=INSTALL_TIMEOUT_MS)
    assert f"does not match the pinned mcp-server-time={WRONG_DIGEST}" in page.locator("#run-error").inner_text()
    assert [w["name"] for w in manager.call("list")] == ["time-portal"]

    repin(portal.home / "data" / "registry.db", NETWORKED, pinned["fileSha256"])
    manager.call("rm", name="time-portal")

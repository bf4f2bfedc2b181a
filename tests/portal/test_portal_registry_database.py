"""A portal configured with its own registry database starts the entries it shows from that database, not
from this machine's default registry, which may not have them, or may have another record of the same name.

Real ``hivekeeper serve`` with ``registry.database_url`` set, its real HTTP endpoints, the real manager it
starts, real MCP servers: the echo server published as a remote, and the starter ``time`` entry's pinned wheel.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from hivekeeper.errors import NotFoundError
from hivekeeper.registry import RegistrySettings, open_registry
from hivekeeper.registry.starter import starter_entries
from hivekeeper.registry.store import RegistryStore
from tests.conftest import free_port
from tests.portal.conftest import Portal, echo_entry, portal_manager, repin, serving
from tests.workloads.workload_helpers import mcp_call

ONLY_IN_PORTAL = "io.github.hivekeeper-tests/echo-portal-only"
IN_BOTH = "io.github.hivekeeper-tests/echo-in-both"
WRONG_DIGEST = "0" * 64
DATABASE_FILE = "portal-registry.db"  # the portal's, beside its home
TIME_ONLY_IN_PORTAL = "io.github.hivekeeper-tests/time-portal-only"


@pytest.fixture(scope="module")
def own_database_portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    tmp_path = tmp_path_factory.mktemp("portal-own-database")
    with serving(tmp_path, database_url=f"sqlite:///{tmp_path / DATABASE_FILE}") as running:
        yield running


def _default_registry(portal: Portal) -> RegistryStore:
    """This machine's registry, as the manager the portal starts finds it without being told otherwise."""
    return open_registry(RegistrySettings(database_url=f"sqlite:///{portal.home / 'data' / 'registry.db'}")).store


def _post(portal: Portal, path: str, **form: str) -> httpx.Response:
    return httpx.post(f"{portal.url}{path}", data=form, headers={"Origin": portal.url}, timeout=300)


def _run(portal: Portal, entry: str, name: str) -> httpx.Response:
    return _post(portal, f"/portal/servers/{entry}/run", name=name, runtime="process", mode="run")


def test_an_entry_only_in_the_portals_database_starts(
    own_database_portal: Portal, echo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    portal = own_database_portal
    portal.publish(echo_entry(echo_url, ONLY_IN_PORTAL))
    default = _default_registry(portal)
    with pytest.raises(NotFoundError):
        default.get(ONLY_IN_PORTAL)
    default.close()

    response = _run(portal, ONLY_IN_PORTAL, "echo-portal-only")
    assert (response.status_code, response.headers.get("location")) == (
        303,
        "/portal/workloads?started=echo-portal-only",
    ), response.text
    manager = portal_manager(portal, monkeypatch)
    status = manager.call("status", name="echo-portal-only")
    assert (status["status"], status["source"], status["registry"]) == ("running", echo_url, f"{ONLY_IN_PORTAL}@1.0.0")
    with ThreadPoolExecutor(1) as thread:  # Playwright's loop may hold this thread: the client gets its own
        assert "echo" in thread.submit(mcp_call, str(status["url"])).result(timeout=60)
    manager.call("rm", name="echo-portal-only")


def test_the_portals_record_wins_over_one_of_the_same_name_in_the_default_registry(
    own_database_portal: Portal, echo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    portal = own_database_portal
    portal.publish(echo_entry(echo_url, IN_BOTH))
    default = _default_registry(portal)
    default.publish(echo_entry(f"http://127.0.0.1:{free_port()}/mcp", IN_BOTH))  # nothing answers there
    default.close()

    response = _run(portal, IN_BOTH, "echo-in-both")
    assert response.status_code == 303, response.text
    manager = portal_manager(portal, monkeypatch)
    status = manager.call("status", name="echo-in-both")
    assert (status["status"], status["source"]) == ("running", echo_url)
    manager.call("rm", name="echo-in-both")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_every_start_rereads_the_pin_from_the_portals_database(
    own_database_portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    portal = own_database_portal
    entry = copy.deepcopy(next(e for e in starter_entries() if e["name"] == "io.modelcontextprotocol/time"))
    entry["name"] = TIME_ONLY_IN_PORTAL
    portal.publish(entry)
    manager = portal_manager(portal, monkeypatch)

    response = _post(portal, f"/portal/servers/{TIME_ONLY_IN_PORTAL}/run", name="time-own-db", mode="run")
    assert response.status_code == 303, response.text
    for action in ("stop", "start"):
        assert _post(portal, f"/portal/workloads/time-own-db/{action}").status_code == 303
    assert manager.call("status", name="time-own-db")["status"] == "running"

    # Re-pinned in the portal's database: the next start is refused against that pin.
    repin(portal.home.parent / DATABASE_FILE, TIME_ONLY_IN_PORTAL, WRONG_DIGEST)
    assert _post(portal, "/portal/workloads/time-own-db/stop").status_code == 303
    refused = _post(portal, "/portal/workloads/time-own-db/start")
    assert refused.status_code == 422
    assert f"does not match the pinned mcp-server-time={WRONG_DIGEST}" in refused.text
    manager.call("rm", name="time-own-db")

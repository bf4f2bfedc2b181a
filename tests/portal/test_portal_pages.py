"""Portal pages and forms in-process (no browser): run plans, commands, CSRF guard, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape
from starlette.applications import Starlette
from starlette.testclient import TestClient

from hivekeeper.errors import ConfigError
from hivekeeper.policy.profiles import load_profile
from hivekeeper.portal import PortalSettings, build_portal_routes
from hivekeeper.portal.launch import plan, run_command, workload_spec
from hivekeeper.registry import RegistrySettings, open_registry

GIT = "io.modelcontextprotocol/git"
FETCH = "io.modelcontextprotocol/fetch"


class RecordingWorkloads:
    """Stands in for the manager where only the portal's side of the exchange is under test."""

    def __init__(self) -> None:
        self.specs: list[dict[str, Any]] = []
        self.warnings: list[str] = []  # what the manager answers about how the server runs

    def run(self, spec: Any) -> dict[str, Any]:
        self.specs.append(dict(spec))
        return {"name": spec["name"], "status": "running", "warnings": self.warnings}

    def list(self) -> list[dict[str, Any]]:
        return [
            {"name": spec["name"], "status": "running", "source": spec["source"], "restarts": 0} for spec in self.specs
        ]

    def act(self, action: str, name: str) -> dict[str, Any]:
        return {"name": name}

    def log_tail(self, name: str) -> str:
        return ""


@pytest.fixture
def setup(tmp_path: Path) -> tuple[TestClient, RecordingWorkloads]:
    registry = open_registry(RegistrySettings(database_url=f"sqlite:///{tmp_path / 'r.db'}"))
    workloads = RecordingWorkloads()
    routes = build_portal_routes(registry, PortalSettings(tool_search=False), workloads=workloads)
    return TestClient(Starlette(routes=routes), base_url="http://portal.test"), workloads


def test_git_entry_runs_as_its_registry_reference_with_the_users_arguments() -> None:
    from hivekeeper.registry.starter import starter_entries

    git = next(entry for entry in starter_entries() if entry["name"].endswith("/git"))
    response = {"server": git, "_meta": {}}
    run_plan = plan(response)
    assert (run_plan.reference, run_plan.source) == (f"{GIT}@2026.10.19", "uvx://mcp-server-git@2026.10.19")
    assert [field.label for field in run_plan.fields] == ["--repository"]
    with pytest.raises(ConfigError, match="required: --repository"):
        workload_spec(response, {})
    # The entry, not its package: the manager resolves it as for `hivekeeper run NAME@VERSION`, so the
    # workload records the entry and its pinned wheel is checked at every start.
    spec = workload_spec(response, {"arg-0": "/srv/repo", "profile": "none"})
    assert spec == {
        "name": "git",
        "source": f"{GIT}@2026.10.19",
        "args": ["--repository", "/srv/repo"],
        "runtime": "sandbox",
    }
    assert run_command(spec) == f"hivekeeper run {GIT}@2026.10.19 --name git -- --repository /srv/repo"
    with pytest.raises(ConfigError, match="profile: unknown permission profile"):
        workload_spec(response, {"arg-0": "/srv/repo", "profile": "root"})


def test_fetch_defaults_to_the_network_profile_it_declares() -> None:
    from hivekeeper.registry.starter import starter_entries

    fetch = next(entry for entry in starter_entries() if entry["name"].endswith("/fetch"))
    response = {
        "server": fetch,
        "_meta": {
            "dev.hivekeeper/curation": {"permissionProfile": {"network": {"outbound": {"insecureAllowAll": True}}}}
        },
    }
    assert plan(response).default_profile == "network"
    # The entry's own profile is the manager's to apply (and to warn about, naming the entry) ...
    assert run_command(workload_spec(response, {})) == f"hivekeeper run {FETCH}@2026.10.24 --name fetch"
    # A registry on a database server is named in the command (a SQLite file is the portal machine's own)
    shared = workload_spec(response, {}, registry_database="postgresql+psycopg://portal@db.internal/registry")
    assert run_command(shared) == (
        f"hivekeeper run {FETCH}@2026.10.24 --name fetch"
        " --registry-database postgresql+psycopg://portal@db.internal/registry"
    )
    assert "--registry-database" not in run_command(workload_spec(response, {}, registry_database="sqlite:///r.db"))
    assert "profile" not in workload_spec(response, {"profile": "network"})
    # ... the user's narrower choice is said, as --profile would say it.
    assert (
        run_command(workload_spec(response, {"profile": "none"}))
        == f"hivekeeper run {FETCH}@2026.10.24 --name fetch --profile none"
    )


def test_run_posts_the_spec_to_the_workloads_manager(
    setup: tuple[TestClient, RecordingWorkloads], tmp_path: Path
) -> None:
    client, workloads = setup
    response = client.post(
        "/portal/servers/io.modelcontextprotocol/memory/run",
        data={"name": "mem", "env-MEMORY_FILE_PATH": "/tmp/memory.jsonl", "profile": "none", "mode": "run"},
        headers={"Origin": "http://portal.test"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/portal/workloads?started=mem"
    assert workloads.specs == [
        {
            "name": "mem",
            "source": "io.modelcontextprotocol/memory@2026.8.31",
            "args": [],
            "runtime": "sandbox",
            "env": {"MEMORY_FILE_PATH": "/tmp/memory.jsonl"},
            "registry_database": f"sqlite:///{tmp_path / 'r.db'}",  # the manager resolves the entry there
        }
    ]
    page = client.get("/portal/workloads?started=mem").text
    assert "Started <strong>mem</strong>" in page and 'data-workload="mem"' in page
    assert 'id="run-warnings"' not in page


def test_the_managers_warnings_are_shown_escaped_after_the_run(setup: tuple[TestClient, RecordingWorkloads]) -> None:
    client, workloads = setup
    workloads.warnings = ["the <b>network</b> profile gives UNRESTRICTED access", "--allow-host '*' too"]
    response = client.post(
        "/portal/servers/io.modelcontextprotocol/time/run",
        data={"name": "loud", "mode": "run"},
        headers={"Origin": "http://portal.test"},
        follow_redirects=False,
    )
    location = response.headers["location"]
    assert response.status_code == 303 and location.startswith("/portal/workloads?started=loud&run=")
    assert "network" not in location  # a token, not the text: links cannot put words in the portal's mouth
    page = client.get(location).text
    assert '<div role="alert" class="warnings" id="run-warnings"' in page
    assert "<strong>warning:</strong> the &lt;b&gt;network&lt;/b&gt; profile gives UNRESTRICTED access" in page
    assert "<strong>warning:</strong> --allow-host &#39;*&#39; too" in page
    assert 'id="run-warnings"' not in client.get("/portal/workloads?started=loud&run=made-up").text


def test_cross_site_posts_are_refused(setup: tuple[TestClient, RecordingWorkloads]) -> None:
    client, workloads = setup
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        response = client.post(
            "/portal/servers/io.modelcontextprotocol/time/run", data={"mode": "run"}, headers=headers
        )
        assert response.status_code == 403, headers
        assert client.post("/portal/workloads/time/stop", headers=headers).status_code == 403
    assert workloads.specs == []


def test_unknown_server_and_bad_form_values(setup: tuple[TestClient, RecordingWorkloads]) -> None:
    client, workloads = setup
    assert client.get("/portal/servers/io.example/nope").status_code == 404
    bad = client.post("/portal/servers/io.modelcontextprotocol/time/run", data={"runtime": "chroot", "mode": "run"})
    assert bad.status_code == 422 and "runtime: unknown runtime" in bad.text
    assert workloads.specs == []


def test_server_page_shows_what_the_entry_needs(setup: tuple[TestClient, RecordingWorkloads]) -> None:
    client, _ = setup
    page = client.get("/portal/servers/io.modelcontextprotocol/fetch").text
    assert "network-unrestricted" in page and "1 high-severity finding" in page
    assert "sha256:3dbcb37801a037b2" in page  # the pinned wheel digest
    assert 'id="provenance"' in page
    catalogue = client.get("/", params={"q": "time", "tier": "official"}).text
    assert "io.modelcontextprotocol/time" in catalogue and "io.modelcontextprotocol/git" not in catalogue


def test_the_run_form_shows_the_warnings_of_the_run_before_it(
    setup: tuple[TestClient, RecordingWorkloads], hivekeeper_home: Path
) -> None:
    """The manager's own resolution and words, from the portal's database (this machine's registry is empty)."""
    client, workloads = setup
    expected = (
        f"{load_profile('network').warning}; asked for by the registry entry {FETCH}@2026.10.24 "
        "(override it with --profile)"
    )
    page = client.get(f"/portal/servers/{FETCH}").text
    assert '<div role="note" class="warnings" id="launch-warnings"' in page
    assert f"<strong>warning:</strong> {escape(expected)}</p>" in page
    # The form as posted: the user's narrower profile has nothing to warn about.
    shown = client.post(f"/portal/servers/{FETCH}/run", data={"profile": "none", "mode": "command"}).text
    assert 'id="run-command"' in shown and 'id="launch-warnings"' not in shown
    assert 'id="launch-warnings"' not in client.get(f"/portal/servers/{GIT}").text
    assert workloads.specs == [] and not (hivekeeper_home / "data").exists()

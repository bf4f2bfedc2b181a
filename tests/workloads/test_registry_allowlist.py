"""A registry entry that declares an outbound allowlist runs with exactly that allowlist: its hosts are
reachable through the egress proxy, every other destination is refused, and nobody is warned about open
network because there is none. Only an entry asking for any host gets the ``network`` profile.

The end-to-end test runs the starter ``fetch`` entry (a real pinned PyPI package whose ``fetch`` tool makes
HTTP requests through ``HTTP_PROXY``) re-published with an allowlist, through the real CLI and a real
manager; the "internet" is HTTP servers on two loopback addresses of the host, which the sandbox can only
reach through the proxy (an IP address in an allowlist is taken as meant, see docs/profiles.md; the fetch
server is told to allow private addresses, so refusals come from hivekeeper, not from its own guard). The
portal's run form, which builds its own spec from the entry, is checked to carry the same allowlist.
"""

from __future__ import annotations

import copy
import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

from hivekeeper.errors import ConfigError
from hivekeeper.portal.launch import plan, run_command, workload_spec
from hivekeeper.registry import RegistrySettings, open_registry
from hivekeeper.registry.curation import CURATION_META, PUBLISHER_META
from hivekeeper.registry.resolve import NetworkAccess, network_access
from hivekeeper.registry.scan import scan_profile
from hivekeeper.registry.starter import starter_entries
from hivekeeper.workloads.control import ManagerClient
from tests.workloads.workload_helpers import hk_process, mcp_call

ALLOWLISTED = "io.github.hivekeeper-tests/fetch-allowlisted"


def network(outbound: Any) -> dict[str, Any]:
    return {"permissionProfile": {"network": {"outbound": outbound}}}


@pytest.mark.parametrize(
    ("curation", "expected"),
    [
        ({}, NetworkAccess()),
        ({"permissionProfile": {}}, NetworkAccess()),
        ({"permissionProfile": {"network": False}}, NetworkAccess()),
        ({"permissionProfile": {"network": True}}, NetworkAccess(profile="network")),
        (network({"insecureAllowAll": True}), NetworkAccess(profile="network")),
        (network({"allowHost": ["*"]}), NetworkAccess(profile="network")),
        (network({"allowHost": ["api.github.com:443"]}), NetworkAccess(allow_hosts=("api.github.com:443",))),
        (
            network({"allowHost": ["API.example.com", "*.example.org", "2001:db8::1"], "allowPort": [443, 8443]}),
            NetworkAccess(
                allow_hosts=(
                    "api.example.com:443",
                    "api.example.com:8443",
                    "*.example.org:443",
                    "*.example.org:8443",
                    "[2001:db8::1]:443",
                    "[2001:db8::1]:8443",
                )
            ),
        ),
        (network({"allowHost": ["10.0.0.5"]}), NetworkAccess(allow_hosts=("10.0.0.5",))),
        (network({"insecureAllowAll": False, "allowHost": []}), NetworkAccess()),
    ],
)
def test_an_entry_network_declaration_becomes_a_profile_and_allowlist(
    curation: dict[str, Any], expected: NetworkAccess
) -> None:
    assert network_access(curation) == expected


@pytest.mark.parametrize(
    ("outbound", "message"),
    [
        ({"allow": ["api.github.com"]}, "permissionProfile.network.outbound.allow: unknown field"),
        ({"allowHost": "api.github.com"}, "permissionProfile.network.outbound.allowHost: expected a list"),
        ({"allowHost": "*.example.com"}, "permissionProfile.network.outbound.allowHost: expected a list"),
        ({"insecureAllowAll": "yes"}, "permissionProfile.network.outbound.insecureAllowAll: expected true or false"),
        ({"allowHost": ["bad host"]}, "permissionProfile.network.outbound.allowHost[0]: allowed host 'bad host'"),
        ({"allowHost": ["a.example"], "allowPort": [0]}, "permissionProfile.network.outbound.allowPort: expected"),
        ({"allowPort": [443]}, "permissionProfile.network.outbound.allowPort: ports without allowHost"),
        ({"allowHost": ["a.example:80"], "allowPort": [443]}, "allowHost[0]: 'a.example:80' names a port"),
    ],
)
def test_an_unreadable_network_declaration_is_refused_naming_the_field(outbound: Any, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        network_access(network(outbound))
    assert message in refused.value.message


def test_the_scan_flags_an_any_host_allowlist_like_insecure_allow_all() -> None:
    assert [f.rule for f in scan_profile(network({"allowHost": ["*"]})["permissionProfile"])] == [
        "network-unrestricted"
    ]
    assert scan_profile(network({"allowHost": ["api.github.com"], "allowPort": [443]})["permissionProfile"]) == []


@dataclass
class CountingSite:
    """An HTTP server on one host address that counts the requests reaching it."""

    address: str
    port: int
    hits: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}/"


@pytest.fixture
def sites() -> Iterator[tuple[CountingSite, CountingSite, CountingSite]]:
    """The allowed site (127.0.0.1:P), another host on the same port (127.0.0.2:P), and the allowed host on
    another port (127.0.0.1:Q)."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def serve(address: str, port: int) -> CountingSite:
        site = CountingSite(address, port)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.hits.append(self.path)
                body = f"page of {site.address}:{site.port}".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer((address, port), Handler)
        site.port = int(server.server_address[1])
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return site

    allowed = serve("127.0.0.1", 0)
    try:
        yield allowed, serve("127.0.0.2", allowed.port), serve("127.0.0.1", 0)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def publish_allowlisted_fetch(outbound: dict[str, Any]) -> None:
    entry = copy.deepcopy(next(e for e in starter_entries() if e["name"] == "io.modelcontextprotocol/fetch"))
    entry["name"] = ALLOWLISTED
    entry["_meta"][PUBLISHER_META]["permissionProfile"] = {"network": {"outbound": outbound}}
    store = open_registry(RegistrySettings()).store
    try:
        store.publish(entry)
    finally:
        store.close()


def fetch(url: str, target: str) -> str:
    return str(mcp_call(url, "fetch", {"url": target, "raw": True}))


def test_an_allowlisted_entry_reaches_its_host_and_nothing_else(
    manager: ManagerClient, sites: tuple[CountingSite, CountingSite, CountingSite]
) -> None:
    allowed, other_host, other_port = sites
    publish_allowlisted_fetch({"allowHost": [allowed.address], "allowPort": [allowed.port]})

    started = hk_process("run", "--json", ALLOWLISTED, "--", "--ignore-robots-txt", "--allow-private-ips", timeout=240)
    assert started.returncode == 0, started.stderr
    record = json.loads(started.stdout)
    rule = f"{allowed.address}:{allowed.port}"
    assert (record["profile"], record["allow_hosts"], record["warnings"]) == ("none", [rule], [])
    assert "warning:" not in started.stderr

    assert f"page of {rule}" in fetch(record["url"], allowed.url)
    assert allowed.hits == ["/"]
    for refused in (other_host, other_port):
        answer = fetch(record["url"], refused.url)
        assert "403" in answer, answer  # the egress proxy's refusal, passed on by the server
        assert refused.hits == [], f"{refused.url} was reached"

    # What runs is what scripts see: the effective allowlist in list --json and in export.
    (listed,) = json.loads(hk_process("list", "--json").stdout)
    assert listed["allow_hosts"] == [rule]
    exported = yaml.safe_load(hk_process("export", record["name"]).stdout)
    assert exported["allow_hosts"] == [rule]
    assert "profile" not in exported or exported["profile"] == "none"

    # The allowlist belongs to the entry's profile: the user's --profile replaces it, hosts and all.
    narrowed = hk_process(
        "run", "--json", "--name", "narrowed", "--profile", "none", ALLOWLISTED, "--", "--allow-private-ips"
    )
    assert narrowed.returncode == 0, narrowed.stderr
    narrowed_record = json.loads(narrowed.stdout)
    assert narrowed_record["allow_hosts"] == []
    assert "page of" not in fetch(narrowed_record["url"], allowed.url)
    assert allowed.hits == ["/"]


def test_the_portal_runs_an_allowlisted_entry_with_its_allowlist_not_open_network() -> None:
    fetch = next(entry for entry in starter_entries() if entry["name"] == "io.modelcontextprotocol/fetch")
    outbound = {"allowHost": ["api.example.com"], "allowPort": [443]}
    response = {"server": fetch, "_meta": {CURATION_META: network(outbound)}}
    run_plan = plan(response)
    assert (run_plan.default_profile, run_plan.default_allow_hosts) == ("none", ("api.example.com:443",))
    # The portal names the entry and leaves its profile and allowlist to the manager's resolution, the one
    # `hivekeeper run NAME` goes through (tested end to end above).
    spec = workload_spec(response, {})
    assert "profile" not in spec and "allow_hosts" not in spec
    assert run_command(spec) == f"hivekeeper run {fetch['name']}@{fetch['version']} --name fetch"
    # Choosing open network in the form is the user's call, as --profile is: it replaces the entry's allowlist.
    assert workload_spec(response, {"profile": "network"})["profile"] == "network"

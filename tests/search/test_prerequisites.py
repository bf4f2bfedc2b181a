"""Identifiers the best tool requires and only a sibling tool yields: the deployments for a deployment's
merge requests, a geocoder for tools that take coordinates."""

from __future__ import annotations

from typing import Any

import pytest

from hivekeeper.search import ToolIndex
from hivekeeper.search.prerequisites import needed, server_prerequisites
from hivekeeper.search.text import query_terms


def _tool(name: str, description: str, *required: str) -> dict[str, Any]:
    properties = {parameter: {"type": "string"} for parameter in required}
    return {
        "name": name,
        "description": description,
        "inputSchema": {"type": "object", "properties": properties, "required": list(required)},
    }


# A code host: every tool works in a project (its scope), a few need a deployment's id.
CODE_HOST = [
    _tool("list_deployments", "List deployments of a project", "project_id"),
    _tool("get_deployment", "Get one deployment", "project_id", "deployment_id"),
    _tool(
        "list_deployment_merge_requests", "List merge requests shipped with a deployment", "project_id", "deployment_id"
    ),
    _tool("delete_deployment", "Delete a deployment", "project_id", "deployment_id"),
    _tool("create_deployment_note", "Comment on deployments", "project_id"),
    _tool("list_projects", "List projects"),
    _tool("get_merge_request", "Get a merge request", "project_id", "merge_request_iid"),
    _tool("create_issue", "Open an issue", "project_id", "title"),
]
MAPS = [
    _tool("geocode_address", "Convert an address or place name to coordinates", "address"),
    _tool("reverse_geocode", "Turn coordinates into an address", "latitude", "longitude"),
    _tool("find_parking_facilities", "Locate parking near a location", "latitude", "longitude"),
    _tool("find_ev_charging_stations", "Find EV charging stations near a location", "latitude", "longitude"),
]
CHAT = [
    _tool("post_message", "Post a message to a chat channel", "channel", "text"),
    _tool("list_channels", "List chat channels"),
]


@pytest.fixture(scope="module")
def index() -> ToolIndex:
    built = ToolIndex()
    built.update_servers({"code-host": CODE_HOST, "maps": MAPS, "chat": CHAT})
    return built


def _prerequisites(tools: list[dict[str, Any]], name: str) -> dict[str, list[str]]:
    position = next(i for i, tool in enumerate(tools) if tool["name"] == name)
    found = server_prerequisites(tools)[position]
    return {p.parameter: [tools[j]["name"] for j in p.producers] for p in found}


def test_producers_come_from_the_schemas_and_names() -> None:
    # listing and reading tools that name deployments and do not need the id themselves; not the tool
    # that deletes one, nor one that comments on them; the project is the scope every tool works in
    assert _prerequisites(CODE_HOST, "list_deployment_merge_requests") == {"deployment_id": ["list_deployments"]}
    # coordinates come from the geocoder, not from the tool that needs them itself
    assert _prerequisites(MAPS, "find_parking_facilities") == {
        "latitude": ["geocode_address"],
        "longitude": ["geocode_address"],
    }
    assert _prerequisites(CHAT, "post_message") == {}  # "channel" is a name, not an identifier


def test_the_tool_that_yields_a_missing_identifier_joins(index: ToolIndex) -> None:
    hits = index.search("which merge requests went out with yesterday's deploy of storefront?", k=3)
    assert hits[0].key == ("code-host", "list_deployment_merge_requests")
    lister = next(hit for hit in hits if hit.key == ("code-host", "list_deployments"))
    assert any(why.startswith("implied step: find deployment (deployment_id") for why in lister.why)


def test_coordinates_come_from_the_geocoder(index: ToolIndex) -> None:
    hits = index.search("where can I park near the Forbidden City", k=2)
    assert [hit.key for hit in hits] == [("maps", "find_parking_facilities"), ("maps", "geocode_address")]


@pytest.mark.parametrize(
    ("request_text", "wanted"),
    [
        ("merge requests of yesterday's deploy", True),
        ("merge requests of deployment 4471", False),  # the request holds the id
        ("merge requests of deploy #12", False),
        ("merge requests of deployment 7", False),  # a number right after the resource is its id
        ("what shipped yesterday", True),  # the thesaurus's word for a deployment
        ("merge requests alice opened this week", False),  # not about a deployment: no lookup needed
    ],
)
def test_a_lookup_is_needed_only_for_a_resource_named_without_its_identifier(request_text: str, wanted: bool) -> None:
    position = next(i for i, tool in enumerate(CODE_HOST) if tool["name"] == "list_deployment_merge_requests")
    (deployment,) = server_prerequisites(CODE_HOST)[position]
    assert needed(deployment, request_text, query_terms(request_text)) is wanted


def test_no_lookup_when_the_request_holds_the_value(index: ToolIndex) -> None:
    for request in ("merge requests shipped with deployment 4471", "parking near 39.9163, 116.3972"):
        hits = index.search(request, k=3)
        assert not any(why.startswith("implied step") for hit in hits for why in hit.why), request


def test_lookups_stay_within_the_servers_asked_for(index: ToolIndex) -> None:
    hits = index.search("where can I park near the Forbidden City", k=3, servers={"chat"})
    assert {hit.server for hit in hits} <= {"chat"}

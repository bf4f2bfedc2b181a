"""The registry API against SQLite and PostgreSQL: the official endpoints, pagination, errors."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import quote

from starlette.testclient import TestClient

from hivekeeper.registry import Status
from tests.registry.conftest import ACME_TOKEN, auth, server_json

OFFICIAL = "io.modelcontextprotocol.registry/official"
CURATION = "dev.hivekeeper/curation"


def publish(client: TestClient, document: dict[str, object], token: str | None = None) -> dict[str, object]:
    response = client.post("/v0.1/publish", json=document, headers=auth(token) if token else auth())
    assert response.status_code == 200, response.text
    return response.json()


def test_publish_then_read_back_in_the_official_shape(client: TestClient) -> None:
    body = publish(client, server_json())
    assert body["server"]["name"] == "io.github.acme/weather"
    meta = body["_meta"][OFFICIAL]
    assert meta["status"] == "active" and meta["isLatest"] is True
    assert meta["publishedAt"].endswith("Z")

    name = quote("io.github.acme/weather", safe="")
    got = client.get(f"/v0.1/servers/{name}/versions/1.0.0").json()
    assert got["server"] == server_json()
    assert client.get(f"/v0.1/servers/{name}/versions/latest").json()["server"]["version"] == "1.0.0"
    # The legacy /v0 prefix serves the same data for older clients.
    assert client.get(f"/v0/servers/{name}/versions/latest").json()["server"]["version"] == "1.0.0"


def test_curation_metadata_names_env_secrets_and_transport(client: TestClient) -> None:
    body = publish(client, server_json())
    curation = body["_meta"][CURATION]
    assert curation["trustTier"] == "verified"  # the admin token publishes at the verified tier
    assert curation["transport"] == "stdio"
    env = {item["name"]: item for item in curation["env"]}
    assert env["WEATHER_API_KEY"]["secret"] is True and env["WEATHER_API_KEY"]["required"] is True
    assert env["WEATHER_UNITS"]["secret"] is False and env["WEATHER_UNITS"]["default"] == "metric"
    assert curation["artifacts"][0]["sha256"] == "a" * 64


def test_latest_follows_semver_not_publication_order(client: TestClient) -> None:
    for version in ("1.2.0", "2.0.0", "1.10.0", "2.0.0-rc.1"):
        publish(client, server_json(version=version))
    name = quote("io.github.acme/weather", safe="")
    assert client.get(f"/v0.1/servers/{name}/versions/latest").json()["server"]["version"] == "2.0.0"
    versions = client.get(f"/v0.1/servers/{name}/versions").json()
    assert [item["server"]["version"] for item in versions["servers"]] == ["2.0.0-rc.1", "1.10.0", "2.0.0", "1.2.0"]
    latest_flags = [item["_meta"][OFFICIAL]["isLatest"] for item in versions["servers"]]
    assert latest_flags.count(True) == 1
    listed = client.get("/v0.1/servers", params={"version": "latest"}).json()["servers"]
    assert [item["server"]["version"] for item in listed] == ["2.0.0"]


def test_pagination_walks_every_entry_once(client: TestClient) -> None:
    names = [f"io.github.acme/server-{index:02d}" for index in range(23)]
    for name in names:
        publish(client, server_json(name=name))
    publish(client, server_json(name=names[0], version="1.1.0"))
    seen: list[tuple[str, str]] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, object] = {"limit": 5}
        if cursor:
            params["cursor"] = cursor
        body = client.get("/v0.1/servers", params=params).json()
        pages += 1
        seen += [(item["server"]["name"], item["server"]["version"]) for item in body["servers"]]
        assert body["metadata"]["count"] == len(body["servers"])
        cursor = body["metadata"].get("nextCursor")
        if not cursor:
            break
    assert pages == 5  # 24 entries in pages of 5: the last page has 4 and no cursor
    assert len(seen) == len(set(seen)) == 24
    assert seen == sorted(seen, key=lambda pair: pair[0])


def test_pagination_edge_cases(client: TestClient) -> None:
    for index in range(3):
        publish(client, server_json(name=f"io.github.acme/s{index}"))
    exact = client.get("/v0.1/servers", params={"limit": 3}).json()
    assert exact["metadata"]["count"] == 3 and "nextCursor" not in exact["metadata"]
    first = client.get("/v0.1/servers", params={"limit": 2}).json()
    rest = client.get("/v0.1/servers", params={"limit": 2, "cursor": first["metadata"]["nextCursor"]}).json()
    assert [item["server"]["name"] for item in rest["servers"]] == ["io.github.acme/s2"]
    # Entries added before the cursor position do not shift the pages after it (keyset pagination).
    publish(client, server_json(name="io.github.acme/a-first"))
    again = client.get("/v0.1/servers", params={"limit": 2, "cursor": first["metadata"]["nextCursor"]}).json()
    assert again["servers"] == rest["servers"]

    for bad in ({"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"cursor": "%%%not-a-cursor"}):
        response = client.get("/v0.1/servers", params=bad)
        assert response.status_code == 400, bad
        problem = response.json()
        assert problem["status"] == 400 and problem["title"] == "Bad Request"
        assert problem["errors"][0]["location"] in {"query.limit", "query.cursor"}


def test_search_matches_name_title_and_description(client: TestClient) -> None:
    publish(client, server_json(name="io.github.acme/weather", description="Forecasts"))
    publish(client, server_json(name="io.github.acme/tides", description="Ocean tide tables 100% offline"))
    publish(client, server_json(name="io.github.acme/maps", title="Street maps", description="Map tiles"))

    def names(term: str) -> list[str]:
        return [
            item["server"]["name"] for item in client.get("/v0.1/servers", params={"search": term}).json()["servers"]
        ]

    assert names("weath") == ["io.github.acme/weather"]
    assert names("TIDE") == ["io.github.acme/tides"]
    assert names("street") == ["io.github.acme/maps"]
    assert names("100%") == ["io.github.acme/tides"]  # % is literal, not a wildcard
    assert names("_") == []


def test_updated_since_returns_only_later_changes_including_deleted(client: TestClient) -> None:
    publish(client, server_json(name="io.github.acme/old"))
    time.sleep(0.05)
    cut = datetime.now(UTC)
    time.sleep(0.05)
    publish(client, server_json(name="io.github.acme/new"))
    name = quote("io.github.acme/old", safe="")
    deleted = client.patch(f"/v0.1/servers/{name}/versions/1.0.0/status", json={"status": "deleted"}, headers=auth())
    assert deleted.status_code == 200, deleted.text

    since = cut.isoformat().replace("+00:00", "Z")
    changed = client.get("/v0.1/servers", params={"updated_since": since}).json()["servers"]
    assert {item["server"]["name"]: item["_meta"][OFFICIAL]["status"] for item in changed} == {
        "io.github.acme/new": "active",
        "io.github.acme/old": "deleted",
    }
    # Without updated_since deleted entries stay hidden unless asked for.
    assert [item["server"]["name"] for item in client.get("/v0.1/servers").json()["servers"]] == ["io.github.acme/new"]
    assert len(client.get("/v0.1/servers", params={"include_deleted": "true"}).json()["servers"]) == 2
    assert client.get(f"/v0.1/servers/{name}/versions/1.0.0").status_code == 404
    response = client.get("/v0.1/servers", params={"updated_since": "yesterday"})
    assert response.status_code == 400 and response.json()["errors"][0]["location"] == "query.updated_since"


def test_status_of_all_versions_and_deprecation_message(client: TestClient) -> None:
    publish(client, server_json(version="1.0.0"))
    publish(client, server_json(version="1.1.0"))
    name = quote("io.github.acme/weather", safe="")
    response = client.patch(
        f"/v0.1/servers/{name}/status",
        json={"status": "deprecated", "statusMessage": "use acme/weather2"},
        headers=auth(),
    )
    assert response.status_code == 200
    assert response.json()["updatedCount"] == 2
    latest = client.get(f"/v0.1/servers/{name}/versions/latest").json()["_meta"][OFFICIAL]
    assert latest["status"] == "deprecated" and latest["statusMessage"] == "use acme/weather2"
    bad = client.patch(f"/v0.1/servers/{name}/status", json={"status": "gone"}, headers=auth())
    assert bad.status_code == 422 and bad.json()["errors"][0]["location"] == "body.status"
    assert client.patch(f"/v0.1/servers/{name}/status", json={"status": "active"}).status_code == 401


def test_not_found_is_a_problem_document(client: TestClient) -> None:
    for path in ("/v0.1/servers/io.github.x%2Fnope/versions", "/v0.1/servers/io.github.x%2Fnope/versions/latest"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["title"] == "Not Found" and "io.github.x/nope" in response.json()["detail"]


def test_openapi_document_describes_the_api(client: TestClient) -> None:
    document = client.get("/v0.1/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert {"/v0.1/servers", "/v0.1/servers/{serverName}/versions/{version}", "/v0.1/publish"} <= set(document["paths"])
    detail = document["components"]["schemas"]["ServerDetail"]
    assert detail["properties"]["name"]["pattern"] == "^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$"
    assert detail["properties"]["packages"]["items"]["$ref"] == "#/components/schemas/Package"


def test_unauthenticated_and_wrong_namespace_publish_are_refused(client: TestClient) -> None:
    document = server_json(name="io.github.other/tool")
    assert client.post("/v0.1/publish", json=document).status_code == 401
    wrong = client.post("/v0.1/publish", json=document, headers=auth("not-a-real-token-at-all"))
    assert wrong.status_code == 401 and wrong.json()["detail"] == "invalid or expired registry token"
    basic = client.post("/v0.1/publish", json=document, headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert basic.status_code == 401
    foreign = client.post("/v0.1/publish", json=document, headers=auth(ACME_TOKEN))
    assert foreign.status_code == 403 and "io.github.acme/*" in foreign.json()["detail"]
    mine = publish(client, server_json(name="io.github.acme/tool"), token=ACME_TOKEN)
    assert mine["_meta"][CURATION]["trustTier"] == "community"
    assert client.get("/v0.1/servers").json()["metadata"]["count"] == 1


def test_duplicate_publish_is_a_conflict_and_changes_nothing(client: TestClient) -> None:
    publish(client, server_json())
    again = client.post("/v0.1/publish", json=server_json(description="changed"), headers=auth())
    assert again.status_code == 409 and "already published" in again.json()["detail"]
    name = quote("io.github.acme/weather", safe="")
    assert client.get(f"/v0.1/servers/{name}/versions/1.0.0").json()["server"]["description"].startswith("Weather")


def test_malformed_server_json_names_each_field(client: TestClient) -> None:
    document = server_json()
    document["name"] = "no-slash-here"
    document["description"] = "x" * 101
    document["packages"][0]["version"] = "latest"
    document["packages"][0]["transport"] = {"type": "carrier-pigeon"}
    del document["version"]
    response = client.post("/v0.1/publish", json=document, headers=auth())
    assert response.status_code == 422
    locations = {error["location"]: error["message"] for error in response.json()["errors"]}
    assert set(locations) == {
        "body.name",
        "body.description",
        "body.version",
        "body.packages[0].version",
        "body.packages[0].transport.type",
    }
    assert locations["body.version"] == "is required"
    assert "not 'latest'" in locations["body.packages[0].version"]


def test_invalid_names_and_versions_are_refused(client: TestClient) -> None:
    cases = {
        "io.github.acme/weather/extra": "body.name",
        "io.github.acme/wea ther": "body.name",
        "/weather": "body.name",
    }
    for name, location in cases.items():
        response = client.post("/v0.1/publish", json=server_json(name=name), headers=auth())
        assert response.status_code in (403, 422), name
        if response.status_code == 422:
            assert response.json()["errors"][0]["location"] == location
    for version in ("^1.2.3", "~1.2", ">=1.0.0", "1.x", "1.*", "latest", "1.0 - 2.0", "v" * 256):
        response = client.post("/v0.1/publish", json=server_json(version=version), headers=auth())
        assert response.status_code == 422, version
        assert any(error["location"].startswith("body.version") for error in response.json()["errors"]), version
    assert client.get("/v0.1/servers").json()["servers"] == []


def test_oversize_and_non_json_bodies(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_body_bytes=4096)
    big = server_json(websiteUrl="https://example.com/" + "a" * 5000)
    response = client.post("/v0.1/publish", json=big, headers=auth())
    assert response.status_code == 413 and "4096-byte limit" in response.json()["detail"]
    # Without a Content-Length the streamed body is still cut off at the limit.
    chunks = iter([b'{"name": "' + b"a" * 3000, b"b" * 3000 + b'"}'])
    streamed = client.post("/v0.1/publish", content=chunks, headers=auth())
    assert streamed.status_code == 413
    garbage = client.post("/v0.1/publish", content=b"{not json", headers={**auth(), "content-type": "application/json"})
    assert garbage.status_code == 400 and garbage.json()["errors"][0]["location"] == "body"
    array = client.post("/v0.1/publish", json=[1, 2], headers=auth())
    assert array.status_code in (403, 422)


def test_search_gives_the_same_pages_whichever_index_answers(database_url: str) -> None:
    """SQLite answers rare terms from its trigram index and common ones by scanning in name order."""
    from hivekeeper.registry import RegistryStore, TrustTier

    store = RegistryStore.open(database_url)
    documents = [
        server_json(
            name=f"io.github.acme/{'tides' if index % 3 == 0 else 'maps'}-{index:02d}", description=f"Entry {index}"
        )
        for index in range(30)
    ]
    store.import_entries(documents, tier=TrustTier.COMMUNITY, source="test")

    def pages(term: str) -> list[list[str]]:
        result, cursor = [], None
        while True:
            page = store.list(search=term, limit=4, cursor=cursor)
            result.append([entry.name for entry in page.entries])
            if not page.next_cursor:
                return result
            cursor = page.next_cursor

    expected_tides = sorted(document["name"] for document in documents if "tides" in document["name"])
    for cap in (500, 2):  # 500: the index lists every hit; 2: too many hits, the ordered scan answers
        store.TRIGRAM_CANDIDATES = cap
        tides = pages("TIDES")
        assert [name for page in tides for name in page] == expected_tides
        assert all(len(page) == 4 for page in tides[:-1])
        assert pages("maps-07") == [["io.github.acme/maps-07"]]
        expected_entry_2 = sorted(d["name"] for d in documents if "entry 2" in str(d["description"]).lower())
        assert len(expected_entry_2) == 11
        assert pages("entry 2") == [expected_entry_2[start : start + 4] for start in range(0, 11, 4)]
    store.set_status("io.github.acme/maps-07", "1.0.0", Status.DELETED)
    assert pages("maps-07") == [[]]
    assert [entry.name for entry in store.list(search="maps-07", include_deleted=True).entries] == [
        "io.github.acme/maps-07"
    ]
    store.close()


def test_responses_match_the_served_openapi_document(make_client: Callable[..., TestClient]) -> None:
    from openapi_schema_validator import OAS31Validator

    client = make_client(starter_catalogue=True)
    document = client.get("/v0.1/openapi.json").json()

    def validator(component: str) -> OAS31Validator:
        return OAS31Validator({"$ref": f"#/components/schemas/{component}", "components": document["components"]})

    listing = client.get("/v0.1/servers", params={"limit": 3}).json()
    assert listing["metadata"]["count"] == 3
    validator("ServerList").validate(listing)
    name = quote("io.modelcontextprotocol/git", safe="")
    validator("ServerResponse").validate(client.get(f"/v0.1/servers/{name}/versions/latest").json())
    for item in client.get("/v0.1/servers", params={"limit": 100}).json()["servers"]:
        validator("ServerDetail").validate(item["server"])  # the starter catalogue is valid server.json
    problem = client.get("/v0.1/servers", params={"limit": 0}).json()
    validator("ErrorModel").validate(problem)
    # The validator does reject: a response wrapper is not itself a ServerDetail.
    assert {error.message for error in validator("ServerDetail").iter_errors(listing["servers"][0])} == {
        "'name' is a required property",
        "'description' is a required property",
        "'version' is a required property",
    }

"""Resource subscriptions held through the gateway by 2026-07-28 clients (``subscriptions/listen``) and 2025
sessions alike: one count per backend URI, authorized and audited like any request, and released when the
holder ends, whatever then stands in the way. Real SDK servers over stdio (``tests/fixtures/resource_server.py``,
whose ``listening`` tool shows the listen streams the gateway holds open on it), SDK clients over HTTP."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import Subscription
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import ResourceUpdated

from hivekeeper.auth.apikeys import digest
from tests.gateway.gateway_helpers import serve_gateway
from tests.gateway.test_gateway import audit_lines
from tests.gateway.test_resource_conflicts import config, next_update, update_queue

ALPHA_SETTINGS, BETA_SETTINGS = "config://alpha/settings", "config://beta/settings"
SETTINGS = "config://settings"  # what both backends call it


async def listening(client: Client, backend: str) -> list[list[str]] | None:
    """The resources of each listen stream open on ``backend`` (None while it is down)."""
    try:
        result = await client.call_tool(f"{backend}_listening", {})
    except MCPError:
        return None
    return None if result.is_error else result.structured_content["result"]


async def until_listening(client: Client, backend: str, expected: list[list[str]]) -> None:
    """Wait for ``backend`` to hear what the gateway holds there: it reopens its listen stream in the background."""
    seen = None
    for _ in range(200):
        seen = await listening(client, backend)
        if seen == expected:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{backend} listens for {seen}, not {expected}")


async def next_event(client: Client, subscription: Subscription, tool: str, uri: str) -> str:
    """Have the backend report ``uri`` updated until an update reaches the listen stream; the URI it names."""
    for _ in range(50):
        await client.call_tool(tool, {"uri": uri})
        try:
            event = await asyncio.wait_for(anext(subscription), 0.2)
        except TimeoutError:
            continue
        assert isinstance(event, ResourceUpdated)
        return event.uri
    raise AssertionError(f"no update reached the listen stream after touching {uri!r} with {tool}")


def subscription_lines(path: Path) -> list[tuple[str, str, Any, str, Any]]:
    """(method, target, session id, outcome, cleanup note) of the audited subscription calls."""
    return [
        (e["method"], e["target"], e["session_id"], e["outcome"], e.get("cleanup"))
        for e in audit_lines(path)
        if e["method"] in ("resources/subscribe", "resources/unsubscribe")
    ]


async def test_a_2026_listener_hears_its_resources_under_the_prefixed_uri_and_the_backend_is_told() -> None:
    async with serve_gateway(config("prefix", "alpha", "beta")) as (url, _), Client(f"{url}/mcp") as client:
        async with client.listen(resource_subscriptions=[BETA_SETTINGS]) as subscription:
            assert subscription.honored.resource_subscriptions == [BETA_SETTINGS]
            await until_listening(client, "beta", [[SETTINGS]])  # the backend hears its own URI
            assert await listening(client, "alpha") == [[]]
            assert await next_event(client, subscription, "beta_touch", SETTINGS) == BETA_SETTINGS
        await until_listening(client, "beta", [[]])  # the stream closed: nobody holds it any more


@pytest.mark.filterwarnings("ignore:resources/(un)?subscribe is removed")  # what a 2025 client does
async def test_listen_streams_and_sessions_share_one_backend_subscription(tmp_path: Path) -> None:
    audit = tmp_path / "audit.ndjson"
    updates, on_message = update_queue()
    async with (
        serve_gateway({**config("prefix", "alpha", "beta"), "audit": {"file": str(audit)}}) as (url, _),
        Client(f"{url}/mcp") as modern,
        Client(f"{url}/mcp", mode="legacy", message_handler=on_message) as legacy,
    ):
        async with modern.listen(resource_subscriptions=[ALPHA_SETTINGS]) as first:
            async with modern.listen(resource_subscriptions=[ALPHA_SETTINGS]) as _second:
                await until_listening(modern, "alpha", [[SETTINGS]])
            await until_audited(audit, ("resources/unsubscribe", "listen stream closed"))
            # The first stream still holds it: the backend still reports, and the first stream still hears.
            assert await listening(modern, "alpha") == [[SETTINGS]]
            assert await next_event(modern, first, "alpha_touch", SETTINGS) == ALPHA_SETTINGS
            await legacy.subscribe_resource(ALPHA_SETTINGS)  # a 2025 session joins the holders
        assert await next_update(legacy, updates, "alpha_touch", SETTINGS) == ALPHA_SETTINGS
        assert await listening(modern, "alpha") == [[SETTINGS]]
        await legacy.unsubscribe_resource(ALPHA_SETTINGS)  # the last holder lets go
        await until_listening(modern, "alpha", [[]])
    streams = [line for line in subscription_lines(audit) if line[2].startswith("listen-")]
    first_id, second_id = streams[0][2], streams[1][2]
    assert first_id != second_id
    assert streams == [
        ("resources/subscribe", ALPHA_SETTINGS, first_id, "ok", None),
        ("resources/subscribe", ALPHA_SETTINGS, second_id, "ok", None),
        ("resources/unsubscribe", ALPHA_SETTINGS, second_id, "ok", "listen stream closed"),
        ("resources/unsubscribe", ALPHA_SETTINGS, first_id, "ok", "listen stream closed"),
    ]


async def until_audited(audit: Path, wanted: tuple[str, str]) -> None:
    """Wait for an audited (method, cleanup note): the gateway lets go once it sees a stream close."""
    for _ in range(100):
        if any((line[0], line[4]) == wanted for line in subscription_lines(audit)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {wanted} in {subscription_lines(audit)}")


@pytest.mark.filterwarnings("ignore:resources/(un)?subscribe is removed")
async def test_a_listen_stream_holds_only_what_the_policy_lets_its_caller_read(tmp_path: Path) -> None:
    audit = tmp_path / "audit.ndjson"
    policy = "\n".join(
        ["permit(principal, action, resource);", f'forbid(principal, action, resource == Resource::"{BETA_SETTINGS}");']
    )
    gateway = {**config("prefix", "alpha", "beta"), "authorization": {"policy": policy}, "audit": {"file": str(audit)}}
    async with serve_gateway(gateway) as (url, _), Client(f"{url}/mcp") as client:
        async with client.listen(resource_subscriptions=[BETA_SETTINGS, ALPHA_SETTINGS]) as subscription:
            assert subscription.honored.resource_subscriptions == [ALPHA_SETTINGS]  # the spec's honored subset
            await until_listening(client, "alpha", [[SETTINGS]])
            assert await listening(client, "beta") == [[]]
        async with Client(f"{url}/mcp", mode="legacy") as legacy:
            with pytest.raises(MCPError, match="may not read_resource"):
                await legacy.subscribe_resource(BETA_SETTINGS)
    denied = [(line[0], line[1], line[3]) for line in subscription_lines(audit) if line[3] != "ok"]
    assert denied == [("resources/subscribe", BETA_SETTINGS, "denied")] * 2


@pytest.mark.filterwarnings("ignore:resources/(un)?subscribe is removed")
async def test_a_session_ending_while_its_backend_is_down_still_releases_the_backend() -> None:
    """The release follows the hold, not the catalog's routing (which refuses a backend that is down)."""
    async with serve_gateway(config("prefix", "alpha", "beta")) as (url, _), Client(f"{url}/mcp") as observer:
        async with Client(f"{url}/mcp", mode="legacy") as legacy:
            await legacy.subscribe_resource(ALPHA_SETTINGS)
            await until_listening(observer, "alpha", [[SETTINGS]])
            with pytest.raises(MCPError):
                await legacy.call_tool("alpha_crash", {})
        # The session ended (DELETE) before alpha came back; once back, it must not listen for the settings.
        await until_listening(observer, "alpha", [[]])


async def test_an_expired_session_is_released_though_the_policy_refuses_its_closer(tmp_path: Path) -> None:
    """A session that expires is closed by nobody (an anonymous caller the policy refuses everything): letting
    go of its subscriptions is cleanup, audited as such and never refused."""
    audit = tmp_path / "audit.ndjson"
    gateway = {
        **config("prefix", "alpha", "beta"),
        "auth": {"api_keys": [{"name": "alice", "sha256": digest("alice-key")}]},
        "authorization": {"policy": 'permit(principal == User::"alice", action, resource);'},
        "audit": {"file": str(audit)},
        "front": {"session_ttl": 0.5},
    }
    headers = {"accept": "application/json, text/event-stream", "x-api-key": "alice-key"}
    async with serve_gateway(gateway) as (url, _), httpx.AsyncClient(headers=headers, timeout=30) as http:

        async def rpc(method: str, params: dict[str, Any], session: str | None = None) -> httpx.Response:
            extra = {"mcp-session-id": session, "mcp-protocol-version": "2025-11-25"} if session else {}
            body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
            return await http.post(f"{url}/mcp", json=body, headers=extra)

        hello = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}
        session = (await rpc("initialize", hello)).headers["mcp-session-id"]
        assert (await rpc("resources/subscribe", {"uri": ALPHA_SETTINGS}, session)).status_code == 200
        keyed = httpx2.AsyncClient(headers={"x-api-key": "alice-key"})
        async with keyed, Client(streamable_http_client(f"{url}/mcp", http_client=keyed)) as observer:
            await until_listening(observer, "alpha", [[SETTINGS]])
            await until_listening(observer, "alpha", [[]])  # expired (no GET stream, no request): released
    subject = {e["subject"] for e in audit_lines(audit) if e["method"] == "resources/unsubscribe"}
    assert subscription_lines(audit) == [
        ("resources/subscribe", ALPHA_SETTINGS, session, "ok", None),
        ("resources/unsubscribe", ALPHA_SETTINGS, session, "ok", "session closed"),
    ]
    assert subject == {"anonymous"}

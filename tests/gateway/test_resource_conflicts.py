"""Two real backends serving the same resource URI and URI template: the gateway's conflict rule (prefix,
priority, manual) decides, as it does for tool names, and clients read through the gateway what the rule
says, and subscribe to the URIs they see. Real SDK servers over stdio (``tests/fixtures/resource_server.py``),
the SDK client over HTTP."""

from __future__ import annotations

import asyncio
import re
import sys
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp import Client
from mcp.client.session import IncomingMessage
from mcp.shared.exceptions import MCPError
from mcp.types import ResourceUpdatedNotification

from hivekeeper.gateway.catalog import prefixed_uri, split_prefixed_uri
from tests.conftest import FIXTURES
from tests.gateway.gateway_helpers import serve_gateway


def twin(name: str) -> dict[str, Any]:
    return {"name": name, "command": [sys.executable, str(FIXTURES / "resource_server.py"), name]}


def config(conflict: str, *names: str) -> dict[str, Any]:
    return {"name": "team", "conflict": conflict, "backends": [twin(n) for n in names], "integrity": {"enabled": False}}


async def listed(client: Client) -> tuple[list[str], list[str]]:
    resources = sorted(str(r.uri) for r in (await client.list_resources()).resources)
    templates = sorted(t.uri_template for t in (await client.list_resource_templates()).resource_templates)
    return resources, templates


async def read(client: Client, uri: str) -> tuple[str, str]:
    """(text, the URI the contents name)."""
    contents = (await client.read_resource(uri)).contents[0]
    return contents.text, str(contents.uri)  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_prefix_keeps_the_scheme_and_routes_by_the_backend_segment(mode: str) -> None:
    async with serve_gateway(config("prefix", "alpha", "beta")) as (url, _), Client(f"{url}/mcp", mode=mode) as client:
        resources, templates = await listed(client)
        assert resources == [
            "config://alpha/settings",
            "config://beta/settings",
            "notes://alpha/alpha",
            "notes://beta/beta",
        ]
        assert templates == [
            "alpha/drafts/{draft}",
            "beta/drafts/{draft}",
            "config://alpha/items/{item}",
            "config://beta/items/{item}",
        ]
        assert {urlsplit(uri).scheme for uri in resources} == {"config", "notes"}
        assert await read(client, "config://beta/settings") == ("settings of beta", "config://beta/settings")
        assert await read(client, "config://alpha/settings") == ("settings of alpha", "config://alpha/settings")
        # A template's instance is in no list: the segment after the scheme names the backend.
        assert await read(client, "config://beta/items/7") == ("item 7 of beta", "config://beta/items/7")
        # A scheme-less template has no scheme to keep: the backend's name is its first path segment.
        assert await read(client, "alpha/drafts/2") == ("draft 2 of alpha", "alpha/drafts/2")
        for unknown in ("config://settings", "config://gamma/settings", "drafts/2", "gamma/drafts/2"):
            with pytest.raises(MCPError, match="unknown resource"):
                await client.read_resource(unknown)


@pytest.mark.parametrize("order", [("alpha", "beta"), ("beta", "alpha")])
async def test_priority_gives_a_clashing_uri_to_the_earlier_backend(order: tuple[str, str]) -> None:
    first, _ = order
    async with serve_gateway(config("priority", *order)) as (url, _), Client(f"{url}/mcp") as client:
        resources, templates = await listed(client)
        assert resources == ["config://settings", "notes://alpha", "notes://beta"]
        assert templates == ["config://items/{item}", "drafts/{draft}"]
        assert await read(client, "config://settings") == (f"settings of {first}", "config://settings")
        assert await read(client, "config://items/3") == (f"item 3 of {first}", "config://items/3")
        assert await read(client, "drafts/4") == (f"draft 4 of {first}", "drafts/4")
        assert await read(client, "notes://beta") == ("notes of beta", "notes://beta")


async def test_manual_withholds_a_clashing_uri_and_says_why(caplog: pytest.LogCaptureFixture) -> None:
    async with serve_gateway(config("manual", "alpha", "beta")) as (url, _), Client(f"{url}/mcp") as client:
        resources, templates = await listed(client)
        assert resources == ["notes://alpha", "notes://beta"]
        assert templates == []
        with pytest.raises(MCPError, match="resource URI 'config://settings' is served by both alpha and beta"):
            await client.read_resource("config://settings")
        with pytest.raises(MCPError, match=r"resource template 'config://items/\{item\}' is served by both alpha"):
            await client.read_resource("config://items/3")
        assert await read(client, "notes://alpha") == ("notes of alpha", "notes://alpha")
    clashes = [r.getMessage() for r in caplog.records if "is served by both" in r.getMessage()]
    assert any("resource URI 'config://settings'" in message for message in clashes), clashes


def update_queue() -> tuple[asyncio.Queue[str], Any]:
    """A queue of the URIs of the ``notifications/resources/updated`` a client receives, and its handler."""
    updates: asyncio.Queue[str] = asyncio.Queue()

    async def on_message(message: IncomingMessage) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            updates.put_nowait(str(message.params.uri))

    return updates, on_message


async def next_update(client: Client, updates: asyncio.Queue[str], tool: str, uri: str) -> str:
    """Have the backend report ``uri`` updated until an update reaches the client; the URI it names.

    A backend hears of a subscription on a listen stream the gateway reopens in the background: the first
    touches may come before that stream is up, and nobody is listening for them yet."""
    for _ in range(50):
        await client.call_tool(tool, {"uri": uri})
        try:
            return await asyncio.wait_for(updates.get(), 0.2)
        except TimeoutError:
            continue
    raise AssertionError(f"no update reached the client after touching {uri!r} with {tool}")


@pytest.mark.filterwarnings("ignore:resources/(un)?subscribe is removed")  # what a 2025 client does
async def test_a_client_subscribed_to_a_prefixed_uri_hears_its_updates_under_that_uri() -> None:
    updates, on_message = update_queue()
    gateway = serve_gateway(config("prefix", "alpha", "beta"))
    async with gateway as (url, _), Client(f"{url}/mcp", mode="legacy", message_handler=on_message) as client:
        await client.subscribe_resource("config://beta/settings")
        # The backends know the URI unprefixed: beta was asked to watch config://settings, alpha nothing.
        assert await next_update(client, updates, "beta_touch", "config://settings") == "config://beta/settings"
        await client.call_tool("alpha_touch", {"uri": "config://settings"})
        await client.unsubscribe_resource("config://beta/settings")
        await client.call_tool("beta_touch", {"uri": "config://settings"})
        await client.subscribe_resource("notes://beta/beta")
        # Ordered per backend: had beta's config update after unsubscribing (or alpha's) come, it would be first.
        assert await next_update(client, updates, "beta_touch", "notes://beta") == "notes://beta/beta"
        await client.call_tool("beta_touch", {"uri": "config://settings"})
        await client.call_tool("beta_touch", {"uri": "notes://beta"})
        assert await asyncio.wait_for(updates.get(), 5) == "notes://beta/beta"


@pytest.mark.filterwarnings("ignore:resources/(un)?subscribe is removed")
async def test_a_subscription_holds_upstream_until_its_last_client_lets_go() -> None:
    (first_updates, on_first), (second_updates, on_second) = update_queue(), update_queue()
    async with (
        serve_gateway(config("prefix", "alpha", "beta")) as (url, _),
        Client(f"{url}/mcp", mode="legacy", message_handler=on_first) as first,
        Client(f"{url}/mcp", mode="legacy", message_handler=on_second) as second,
    ):
        for client in (first, second):
            await client.subscribe_resource("config://alpha/settings")
        await first.unsubscribe_resource("config://alpha/settings")
        assert (
            await next_update(second, second_updates, "alpha_touch", "config://settings") == "config://alpha/settings"
        )
        assert first_updates.empty()


@pytest.mark.parametrize(
    ("uri", "exposed"),
    [
        ("config://settings", "config://files/settings"),
        ("file:///srv/a.txt", "file://files//srv/a.txt"),
        ("https://example.com/a?b=1#c", "https://files/example.com/a?b=1#c"),
        ("urn:isbn:0451450523", "urn:files/isbn:0451450523"),
        ("{path}", "files/{path}"),
        ("notes/{id}", "files/notes/{id}"),
        ("/srv/a.txt", "files//srv/a.txt"),
        ("1a:b", "files/1a:b"),  # a scheme starts with a letter: this is a relative path
    ],
)
def test_prefixed_uri_examples(uri: str, exposed: str) -> None:
    assert prefixed_uri(uri, "files") == exposed
    assert split_prefixed_uri(exposed) == ("files", uri)


@given(
    scheme=st.from_regex(r"[a-z][a-z0-9+.-]{0,8}", fullmatch=True),
    slashes=st.sampled_from(["", "//", "///"]),
    rest=st.text(st.characters(codec="ascii", exclude_characters="\x00"), max_size=30),
    name=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True),
)
def test_prefixing_keeps_the_scheme_and_is_undone_exactly(scheme: str, slashes: str, rest: str, name: str) -> None:
    uri = f"{scheme}:{slashes}{rest}"
    exposed = prefixed_uri(uri, name)
    assert exposed.startswith(f"{scheme}:")
    assert split_prefixed_uri(exposed) == (name, uri)


@given(
    uri=st.text(st.characters(codec="ascii", exclude_characters="\x00"), max_size=30),
    name=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True),
)
def test_a_reference_without_a_scheme_gets_the_name_as_first_segment(uri: str, name: str) -> None:
    exposed = prefixed_uri(uri, name)
    assert split_prefixed_uri(exposed) == (name, uri)
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", uri) is None:  # RFC 3986's scheme
        assert exposed == f"{name}/{uri}"

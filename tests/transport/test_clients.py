"""The SDK's own client, in both protocol eras, through the proxy to servers of both eras."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable
from typing import Any

import mcp_types as types
import pytest
from mcp import Client
from mcp.client.context import ClientRequestContext
from mcp.shared.subscriptions import ResourceUpdated

from tests.conftest import FIXTURES
from tests.transport.conftest import Proxy

MODES = ["auto", "legacy"]
EXPECTED_VERSION = {"auto": "2026-07-28", "legacy": "2025-11-25"}


@pytest.fixture(params=["modern backend", "legacy backend"])
def interactive(request: pytest.FixtureRequest) -> Proxy:
    name = "interactive_proxy" if request.param == "modern backend" else "legacy_proxy"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


@pytest.mark.parametrize("mode", MODES)
async def test_list_and_call_through_proxy(echo_proxy: Proxy, mode: str) -> None:
    async with Client(echo_proxy.url, mode=mode) as client:  # type: ignore[arg-type]
        assert client.protocol_version == EXPECTED_VERSION[mode]
        tools = await client.list_tools()
        assert sorted(tool.name for tool in tools.tools) == ["add", "echo"]
        result = await client.call_tool("add", {"a": 20, "b": 22})
        assert result.structured_content == {"result": 42}
        assert client.server_info is not None and client.server_info.name == "echo"


@pytest.mark.parametrize("mode", MODES)
async def test_era_translation_to_a_2025_only_server(legacy_proxy: Proxy, mode: str) -> None:
    """A 2026 client before a 2025-only server: the proxy answers server/discover and adapts results."""
    async with Client(legacy_proxy.url, mode=mode) as client:  # type: ignore[arg-type]
        assert client.protocol_version == EXPECTED_VERSION[mode]
        assert client.server_info is not None and client.server_info.name == "interactive"
        tools = await client.list_tools()
        assert {"greet", "count", "echo"} <= {tool.name for tool in tools.tools}
        result = await client.call_tool("echo", {"text": "héllo"})
        assert result.structured_content == {"result": "héllo"}


@pytest.mark.parametrize("mode", MODES)
async def test_progress_reaches_the_caller(interactive: Proxy, mode: str) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with Client(interactive.url, mode=mode) as client:  # type: ignore[arg-type]
        result = await client.call_tool("count", {"steps": 3}, progress_callback=on_progress)
    assert result.structured_content == {"result": 3}
    assert seen == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]


@pytest.mark.parametrize("mode", MODES)
async def test_elicitation_round_trip(interactive: Proxy, mode: str) -> None:
    asked: list[str] = []

    async def elicit(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async with Client(interactive.url, mode=mode, elicitation_callback=elicit) as client:  # type: ignore[arg-type]
        result = await client.call_tool("greet", {})
    assert asked == ["What is your name?"]
    assert result.structured_content == {"result": "Hello, Ada!"}


@pytest.mark.parametrize("mode", MODES)
async def test_sampling_round_trip(interactive: Proxy, mode: str) -> None:
    async def sample(
        context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        prompt = params.messages[0].content
        assert isinstance(prompt, types.TextContent)
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text=f"model says: {prompt.text}"), model="m"
        )

    async with Client(interactive.url, mode=mode, sampling_callback=sample) as client:  # type: ignore[arg-type]
        result = await client.call_tool("summarize", {"topic": "bees"})
    assert result.structured_content == {"result": "model says: Say something about bees"}


@pytest.mark.parametrize("mode", MODES)
async def test_roots_round_trip(interactive: Proxy, mode: str) -> None:
    async def roots(context: ClientRequestContext) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri="file:///srv/project", name="project")])

    async with Client(interactive.url, mode=mode, list_roots_callback=roots) as client:  # type: ignore[arg-type]
        result = await client.call_tool("roots", {})
    assert result.structured_content == {"result": ["file:///srv/project"]}


@pytest.mark.parametrize("mode", MODES)
async def test_concurrent_elicitations_reach_their_own_clients(interactive_proxy: Proxy, mode: str) -> None:
    """Several clients answering differently at once: each greeting carries its own client's answer.

    Against a 2026 server every question is tied to its call (``input_required``). A 2025 server on stdio
    sends no such link, so with several calls in flight the proxy can only guess (it asks the latest
    call's client); that case is documented, not tested as exact.
    """

    async def one(name: str) -> Any:
        async def elicit(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
            await asyncio.sleep(0.05)  # keep the calls overlapping
            return types.ElicitResult(action="accept", content={"name": name})

        async with Client(interactive_proxy.url, mode=mode, elicitation_callback=elicit) as client:  # type: ignore[arg-type]
            return (await client.call_tool("greet", {})).structured_content

    names = [f"client-{n}" for n in range(6)]
    results = await asyncio.gather(*(one(name) for name in names))
    assert results == [{"result": f"Hello, {name}!"} for name in names]


async def test_list_changed_reaches_a_2025_client(legacy_proxy: Proxy) -> None:
    changed = asyncio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changed.set()

    async with Client(legacy_proxy.url, mode="legacy", message_handler=on_message) as client:
        await asyncio.sleep(0.2)  # let the client's GET stream open
        await client.call_tool("change_tools", {})
        await asyncio.wait_for(changed.wait(), 10)


async def test_list_changed_reaches_a_2026_listener(interactive: Proxy) -> None:
    """A 2026 client's ``subscriptions/listen`` stream gets list changes from servers of either era."""
    async with Client(interactive.url, mode="auto") as client, client.listen(tools_list_changed=True) as subscription:
        await client.call_tool("change_tools", {})

        async def first_event() -> Any:
            async for event in subscription:
                return event
            return None

        event = await asyncio.wait_for(first_event(), 10)
    assert event is not None and type(event).__name__ == "ToolsListChanged"


@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")
async def test_a_2025_clients_log_level_and_subscriptions_reach_a_2026_server(interactive_proxy: Proxy) -> None:
    """``logging/setLevel`` and ``resources/subscribe`` do not exist in 2026-07-28: the proxy keeps them per
    session and tells the server in its own terms (``_meta`` log level, a listen stream)."""
    logged: list[str] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logged.append(str(params.data))

    async with Client(interactive_proxy.url, mode="legacy", logging_callback=on_log) as client:
        await client.set_logging_level("info")
        await client.call_tool("count", {"steps": 2})
        await client.subscribe_resource("test://anything")  # type: ignore[deprecated]
        await client.unsubscribe_resource("test://anything")  # type: ignore[deprecated]
    assert logged == ["working on step 1", "working on step 2"]


async def test_a_2026_listeners_resources_reach_the_server_behind_the_proxy(
    proxy_factory: Callable[[list[str]], Proxy],
) -> None:
    """A listen stream's ``resourceSubscriptions`` are the proxy's to hold upstream, as a 2025 client's
    ``resources/subscribe`` are: the server is told while the stream is open, and its updates come back."""
    proxy = proxy_factory(["--", sys.executable, str(FIXTURES / "resource_server.py"), "solo"])

    async def listening(client: Client) -> Any:
        return (await client.call_tool("listening", {})).structured_content["result"]

    async with Client(proxy.url) as client:
        async with client.listen(resource_subscriptions=["config://settings"]) as subscription:
            assert subscription.honored.resource_subscriptions == ["config://settings"]
            for _ in range(50):  # the proxy reopens its listen stream upstream in the background
                await client.call_tool("touch", {"uri": "config://settings"})
                with contextlib.suppress(TimeoutError):
                    event = await asyncio.wait_for(anext(subscription), 0.2)
                    break
            else:
                raise AssertionError("no update reached the listen stream")
            assert event == ResourceUpdated(uri="config://settings")
        for _ in range(100):
            if await listening(client) == [[]]:
                break
            await asyncio.sleep(0.05)
        assert await listening(client) == [[]]  # the stream closed: the server no longer watches for it

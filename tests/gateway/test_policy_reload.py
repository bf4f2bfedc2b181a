"""The Cedar policy file of a running gateway, edited as operators do (a new file renamed over the old, like an
editor saves): the next calls follow it without a restart, a malformed edit keeps the last good policy deciding
(logged, counted and shown in the status until fixed), granted subscriptions hear only what the policy in force
lets them read, and clients are told to re-list. Real gateways, real stdio backends, SDK clients over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
import yaml
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import Subscription
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import ResourceUpdated, ToolsListChanged
from pydantic import ValidationError

from hivekeeper.auth.apikeys import digest
from hivekeeper.errors import ConfigError
from hivekeeper.gateway.authorization import CedarAuthorization
from hivekeeper.gateway.chain import Call, Result
from hivekeeper.gateway.config import AuthorizationConfig
from hivekeeper.policy.cedar import CedarPolicy
from tests.conftest import ECHO_SERVER, free_port, wait_for_http
from tests.gateway.gateway_helpers import serve_gateway
from tests.gateway.test_gateway import texts
from tests.gateway.test_resource_conflicts import config as twins_config
from tests.gateway.test_resource_conflicts import next_update, update_queue

ALPHA_SETTINGS = "config://alpha/settings"
PERMIT_ALL = "permit(principal, action, resource);\n"
BOB_MAY_NOT_READ_SETTINGS = PERMIT_ALL + (
    f'forbid(principal == User::"bob", action == Action::"read_resource", resource == Resource::"{ALPHA_SETTINGS}");\n'
)
MALFORMED = "permit(principal, action, resource);\n\nforbid(principal action, resource);\n"  # line 3


def may_call(tool: str) -> str:
    return (
        'permit(principal, action == Action::"list_tools", resource);\n'
        f'permit(principal, action == Action::"call_tool", resource == Tool::"{tool}");\n'
    )


def save(path: Path, text: str) -> None:
    """Replace ``path`` as an editor saves: write a new file beside it, then rename it over the old one."""
    draft = path.with_name(f".{path.name}.swp")
    draft.write_text(text)
    os.replace(draft, path)


def echo_gateway(policy_file: Path, **authorization: Any) -> dict[str, Any]:
    return {
        "name": "team",
        "backends": [{"name": "echo", "command": ECHO_SERVER}],
        "integrity": {"enabled": False},
        "authorization": {"policy_file": str(policy_file), "reload_interval": 0.05, **authorization},
    }


async def until(check: Callable[[], Any], what: str) -> Any:
    """Poll ``check`` (a coroutine function) until it answers something true; that answer."""
    for _ in range(200):
        answer = await check()
        if answer:
            return answer
        await asyncio.sleep(0.025)
    raise AssertionError(f"never: {what}")


async def policy_status(http: httpx.AsyncClient, url: str) -> dict[str, Any]:
    return dict((await http.get(f"{url}/gateway/status")).json()["policy"])


def version_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def allowed(client: Client, tool: str) -> bool:
    try:
        await client.call_tool(tool, {"text": "x"} if tool == "echo_echo" else {"a": 1, "b": 2})
    except MCPError as exc:
        assert f"may not call_tool '{tool}'" in str(exc)
        return False
    return True


async def test_an_edited_policy_decides_the_next_calls_of_an_open_session(tmp_path: Path) -> None:
    policy = tmp_path / "policies.cedar"
    policy.write_text(may_call("echo_echo"))
    async with serve_gateway(echo_gateway(policy)) as (url, _), Client(f"{url}/mcp", mode="legacy") as client:
        assert texts(await client.call_tool("echo_echo", {"text": "before"})) == ["before"]
        assert not await allowed(client, "echo_add")

        save(policy, may_call("echo_add"))
        await until(lambda: allowed(client, "echo_add"), "the edit allowed echo_add")
        assert not await allowed(client, "echo_echo")  # and what was allowed no longer is
        assert [tool.name for tool in (await client.list_tools()).tools] == ["echo_add"]
        assert texts(await client.call_tool("echo_add", {"a": 20, "b": 22})) == ["42"]  # the same session


async def test_a_malformed_edit_keeps_the_last_good_policy_until_the_file_is_fixed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    policy = tmp_path / "policies.cedar"
    policy.write_text(may_call("echo_echo"))
    caplog.set_level(logging.ERROR, logger="hivekeeper.gateway.policy_reload")
    async with (
        serve_gateway(echo_gateway(policy)) as (url, _),
        Client(f"{url}/mcp", mode="legacy") as client,
        httpx.AsyncClient() as http,
    ):
        started = await policy_status(http, url)
        assert started == {"source": str(policy), "version": version_of(may_call("echo_echo")), "reload_error": None}

        save(policy, MALFORMED)
        status = await until(lambda: _with_error(http, url), "the status showed the reload error")
        assert status["reload_error"].startswith(f"{policy}: line 3: invalid Cedar policy: ")
        assert status["version"] == started["version"]  # the last good policy is still in force
        assert await allowed(client, "echo_echo")
        assert not await allowed(client, "echo_add")
        assert len(reload_errors(caplog)) == 1
        assert reload_errors(caplog)[0].startswith(f"{policy}: line 3: invalid Cedar policy: ")
        assert 'hivekeeper_policy_reloads_total{result="error"} 1.0' in (await http.get(f"{url}/metrics")).text

        policy.unlink()  # a missing file is no policy either
        status = await until(lambda: _with_error(http, url, "no such policy file"), "the missing file was reported")
        assert status["reload_error"] == f"{policy}: no such policy file"
        assert await allowed(client, "echo_echo")

        save(policy, may_call("echo_add"))  # fixed
        status = await until(lambda: _without_error(http, url), "the fixed file was reloaded")
        assert status["version"] == version_of(may_call("echo_add"))
        assert await allowed(client, "echo_add")
        metrics = (await http.get(f"{url}/metrics")).text
        assert 'hivekeeper_policy_reloads_total{result="ok"} 1.0' in metrics
        assert 'hivekeeper_policy_reloads_total{result="error"} 2.0' in metrics
        assert len(reload_errors(caplog)) == 2  # one per bad edit, however often the file was looked at


def reload_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "hivekeeper.gateway.policy_reload"]


async def _with_error(http: httpx.AsyncClient, url: str, text: str = "") -> dict[str, Any] | None:
    status = await policy_status(http, url)
    return status if status["reload_error"] and text in status["reload_error"] else None


async def _without_error(http: httpx.AsyncClient, url: str) -> dict[str, Any] | None:
    status = await policy_status(http, url)
    return status if status["reload_error"] is None else None


@contextlib.asynccontextmanager
async def subscriber(url: str, key: str, how: str) -> AsyncIterator[tuple[Client, asyncio.Queue[str]]]:
    """A client holding ALPHA_SETTINGS (a 2025 session's subscribe, or a 2026 listen stream), and the queue of
    the URIs of the updates it hears."""
    updates, on_message = update_queue()
    keyed = httpx2.AsyncClient(headers={"x-api-key": key})
    mode = "legacy" if how == "session" else "auto"
    transport = streamable_http_client(f"{url}/mcp", http_client=keyed)
    async with keyed, Client(transport, mode=mode, message_handler=on_message) as client:
        if how == "session":
            await client.subscribe_resource(ALPHA_SETTINGS)
            yield client, updates
            return
        async with client.listen(resource_subscriptions=[ALPHA_SETTINGS]) as subscription:
            pump = asyncio.create_task(_pump(subscription, updates))
            try:
                yield client, updates
            finally:
                pump.cancel()


async def _pump(subscription: Subscription, updates: asyncio.Queue[str]) -> None:
    async for event in subscription:
        if isinstance(event, ResourceUpdated):
            updates.put_nowait(event.uri)


async def heard(updates: asyncio.Queue[str], timeout: float) -> str | None:
    try:
        return await asyncio.wait_for(updates.get(), timeout)
    except TimeoutError:
        return None


@pytest.mark.filterwarnings("ignore:resources/(un)?subscribe is removed")  # what a 2025 client does
@pytest.mark.parametrize("bob_holds", ["session", "listen"])
async def test_a_holder_whose_read_was_revoked_hears_no_more_updates(tmp_path: Path, bob_holds: str) -> None:
    policy = tmp_path / "policies.cedar"
    policy.write_text(PERMIT_ALL)
    gateway = {
        **twins_config("prefix", "alpha"),
        "auth": {
            "api_keys": [{"name": "alice", "sha256": digest("alice-key")}, {"name": "bob", "sha256": digest("bob-key")}]
        },
        "authorization": {"policy_file": str(policy), "reload_interval": 0.05},
    }
    async with (
        serve_gateway(gateway) as (url, _),
        subscriber(url, "alice-key", "session") as (alice, alice_hears),
        subscriber(url, "bob-key", bob_holds) as (bob, bob_hears),
        httpx.AsyncClient(headers={"x-api-key": "alice-key"}) as http,
    ):
        assert await next_update(alice, alice_hears, "alpha_touch", "config://settings") == ALPHA_SETTINGS
        assert await heard(bob_hears, 5) == ALPHA_SETTINGS  # both hold it while both may read it

        save(policy, BOB_MAY_NOT_READ_SETTINGS)
        await until(lambda: _version(http, url, BOB_MAY_NOT_READ_SETTINGS), "the revocation was reloaded")
        while not bob_hears.empty():  # what he heard before: the first touches may each have reached him
            bob_hears.get_nowait()
        for _ in range(3):
            assert await next_update(alice, alice_hears, "alpha_touch", "config://settings") == ALPHA_SETTINGS
        assert await heard(bob_hears, 0.3) is None  # bob's hold was granted, but he may no longer read it
        touched = await bob.call_tool("alpha_touch", {"uri": "config://settings"})  # his session is still served
        assert texts(touched) == ["touched config://settings"]

        save(policy, PERMIT_ALL)  # granted again: decided at each update, bob hears again
        await until(lambda: _version(http, url, PERMIT_ALL), "the grant was reloaded")
        await next_update(alice, alice_hears, "alpha_touch", "config://settings")
        assert await heard(bob_hears, 5) == ALPHA_SETTINGS


async def _version(http: httpx.AsyncClient, url: str, text: str) -> bool:
    return (await policy_status(http, url))["version"] == version_of(text)


async def test_clients_are_told_to_relist_after_a_reload(tmp_path: Path) -> None:
    policy = tmp_path / "policies.cedar"
    policy.write_text(may_call("echo_echo"))
    received: list[str] = []

    async def on_message(message: Any) -> None:
        received.append(repr(message))

    async with (
        serve_gateway(echo_gateway(policy)) as (url, _),
        Client(f"{url}/mcp", mode="legacy", message_handler=on_message) as legacy,
        Client(f"{url}/mcp") as modern,
        modern.listen(tools_list_changed=True) as subscription,
    ):
        assert [tool.name for tool in (await legacy.list_tools()).tools] == ["echo_echo"]
        save(policy, may_call("echo_add"))
        assert isinstance(await asyncio.wait_for(anext(subscription), 10), ToolsListChanged)

        async def told() -> bool:
            return any("tools/list_changed" in message for message in received)

        await until(told, "the 2025 session was told tools/list_changed")
        assert [tool.name for tool in (await legacy.list_tools()).tools] == ["echo_add"]


async def test_a_call_in_flight_is_decided_by_the_version_it_began_with() -> None:
    link = CedarAuthorization(CedarPolicy(may_call("echo_echo"), "old"))

    async def terminal(call: Call) -> Result:
        link.policy = CedarPolicy(may_call("echo_add"), "new")  # a reload lands while the backend answers
        return {"tools": [{"name": "echo_echo"}, {"name": "echo_add"}]}

    listed = await link(Call("tools/list", {}), terminal)
    assert listed["tools"] == [{"name": "echo_echo"}]  # filtered as the version that let the listing in says


def test_an_unreadable_policy_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=rf"^{tmp_path}: cannot read the policy file: Is a directory$"):
        CedarPolicy.load(tmp_path)


def test_reload_interval_belongs_to_a_policy_file() -> None:
    with pytest.raises(ValidationError, match="reload_interval applies to policy_file only"):
        AuthorizationConfig.model_validate({"policy": PERMIT_ALL, "reload_interval": 5})
    with pytest.raises(ValidationError, match="greater than 0"):
        AuthorizationConfig.model_validate({"policy_file": "p.cedar", "reload_interval": 0})


@contextlib.contextmanager
def hivekeeper_gateway(tmp_path: Path, settings: dict[str, Any]) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A `hivekeeper gateway` process serving ``settings`` (output in tmp_path/gateway.log), and its URL; it is
    stopped with SIGTERM on the way out, which it must survive cleanly."""
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump(settings))
    port = free_port()
    command = [sys.executable, "-m", "hivekeeper", "gateway", "--config", str(config), "--port", str(port)]
    with (tmp_path / "gateway.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for_http(f"{url}/healthz", timeout=60)
            yield process, url
        finally:
            process.terminate()
            code = process.wait(timeout=15)
    output = (tmp_path / "gateway.log").read_text()
    assert code in (0, -signal.SIGTERM), output  # uvicorn's own shutdown, untouched
    assert "Traceback" not in output


def test_hivekeeper_gateway_reloads_on_sighup_and_still_stops_on_sigterm(tmp_path: Path) -> None:
    policy = tmp_path / "policies.cedar"
    policy.write_text(may_call("echo_echo"))
    # Looking at the file hourly: only the signal can make this reload.
    with hivekeeper_gateway(tmp_path, echo_gateway(policy, reload_interval=3600)) as (process, url):
        save(policy, may_call("echo_add"))
        process.send_signal(signal.SIGHUP)
        for _ in range(200):
            status = httpx.get(f"{url}/gateway/status").json()["policy"]
            if status["version"] == version_of(may_call("echo_add")):
                break
            time.sleep(0.025)
        else:
            pytest.fail(f"SIGHUP did not reload the policy: {status}")


def test_sighup_without_a_policy_file_is_ignored_not_fatal(tmp_path: Path) -> None:
    # an inline policy cannot change without a restart; the signal's default action would end the process
    settings = echo_gateway(tmp_path / "unused.cedar")
    settings["authorization"] = {"policy": may_call("echo_echo")}
    log = tmp_path / "gateway.log"
    with hivekeeper_gateway(tmp_path, settings) as (process, url):
        process.send_signal(signal.SIGHUP)
        for _ in range(200):
            if b"SIGHUP ignored" in log.read_bytes():
                break
            time.sleep(0.025)
        assert process.poll() is None, log.read_text()
        assert httpx.get(f"{url}/healthz").status_code == 200
    assert "gateway team: SIGHUP ignored: there is no policy_file to reload" in log.read_text()

"""The gateway end to end: real stdio backends, the SDK client in both protocol eras, real JWTs from a
JWKS endpoint, Cedar, audit lines, spans at an in-test OTLP receiver, /metrics, and backends that
misbehave (die mid-call, answer garbage, change a tool under us, never start)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import httpx
import httpx2
import orjson
import pytest
import yaml
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from typer.testing import CliRunner

from hivekeeper.auth.apikeys import digest
from hivekeeper.cli.app import app
from hivekeeper.errors import ConfigError, NotFoundError
from hivekeeper.gateway.app import Gateway
from hivekeeper.gateway.config import GatewayConfig
from hivekeeper.secrets import EnvironmentProvider, SecretStore
from tests.conftest import ECHO_SERVER, node_env, npm_tool
from tests.gateway.gateway_helpers import ISSUER, KeySet, OtlpGrpcReceiver, OtlpReceiver, jwks_server, serve_gateway

SCRIPTED = [sys.executable, str(Path(__file__).with_name("scripted_server.py"))]

POLICY = """
permit(principal in Group::"eng", action, resource);
permit(principal, action == Action::"list_tools", resource);
permit(principal, action == Action::"call_tool", resource == Tool::"echo_echo");
forbid(principal, action == Action::"call_tool", resource == Tool::"echo_add")
  unless { principal in Group::"eng" && (context.listing || context.arguments.a < 100) };
"""


def texts(result: Any) -> list[str]:
    return [block.text for block in result.content]


def audit_lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


@pytest.fixture
def scripted_env(tmp_path: Path) -> dict[str, str]:
    description = tmp_path / "hello.txt"
    description.write_text("Say hello.")
    return {"SCRIPTED_DESCRIPTION": str(description)}


def base_config(tmp_path: Path, scripted_env: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "name": "team",
        "backends": [
            {"name": "echo", "command": ECHO_SERVER},
            {"name": "twin", "command": ECHO_SERVER, "tools": {"allow": ["add"], "rename": {"add": "plus"}}},
            {"name": "odd", "command": SCRIPTED, "env": scripted_env, "timeout": 10},
        ],
        "integrity": {"directory": str(tmp_path / "integrity")},
        "audit": {"file": str(tmp_path / "audit.ndjson"), "arguments": True},
        **extra,
    }


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_sdk_client_sees_one_server_in_both_eras(tmp_path: Path, scripted_env: dict[str, str], mode: str) -> None:
    async with serve_gateway(base_config(tmp_path, scripted_env)) as (url, _):
        async with Client(f"{url}/mcp", mode=mode) as client:
            assert client.protocol_version == ("2026-07-28" if mode == "auto" else "2025-11-25")
            names = sorted(tool.name for tool in (await client.list_tools()).tools)
            assert names == sorted(
                ["echo_echo", "echo_add", "twin_plus", "odd_hello", "odd_die", "odd_garbage", "odd_mutate", "odd_meta"]
            )
            assert texts(await client.call_tool("echo_add", {"a": 2, "b": 3})) == ["5"]
            assert texts(await client.call_tool("twin_plus", {"a": 40, "b": 2})) == ["42"]
            assert texts(await client.call_tool("odd_hello", {})) == ["hello"]
            with pytest.raises(MCPError, match="unknown tool 'twin_echo'"):  # filtered out by twin's allow list
                await client.call_tool("twin_echo", {"text": "x"})
        lines = audit_lines(tmp_path / "audit.ndjson")
        calls = [(e["method"], e["target"], e["backend"], e["outcome"]) for e in lines if e["method"] == "tools/call"]
        assert calls == [
            ("tools/call", "echo_add", "echo", "ok"),
            ("tools/call", "twin_plus", "twin", "ok"),
            ("tools/call", "odd_hello", "odd", "ok"),
            ("tools/call", "twin_echo", None, "error"),
        ]
        assert all(e["subject"] == "anonymous" and e["client"] == "mcp" for e in lines)
        assert lines[-4]["arguments"] == {"a": 2, "b": 3}
        if mode == "legacy":
            assert len({e["session_id"] for e in lines}) == 1 and lines[0]["session_id"]


async def test_jwt_cedar_audit_spans_and_metrics(tmp_path: Path, scripted_env: dict[str, str]) -> None:
    keys = KeySet("gw")
    receiver = OtlpReceiver()
    try:
        with jwks_server(keys) as (jwks_url, _):
            config = base_config(
                tmp_path,
                scripted_env,
                auth={"oidc": {"issuer": ISSUER, "jwks_url": jwks_url}},
                authorization={"policy": POLICY},
                telemetry={"otlp_endpoint": receiver.url, "service_name": "gw-test"},
            )
            async with serve_gateway(config) as (url, gateway):
                resource = f"{url}/mcp"
                alice = keys.token(audience=resource, subject="alice", groups=["eng"])
                bob = keys.token(audience=resource, subject="bob", groups=["sales"])

                async with httpx.AsyncClient() as http:
                    refused = await http.post(resource, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
                    assert refused.status_code == 401
                    assert (
                        f'resource_metadata="{url}/.well-known/oauth-protected-resource"'
                        in refused.headers["www-authenticate"]
                    )
                    wrong = keys.token(audience="http://elsewhere/mcp")
                    refused = await http.post(resource, headers={"authorization": f"Bearer {wrong}"}, json={})
                    assert refused.status_code == 401

                async with Client(_with_token(resource, alice)) as client:
                    assert len((await client.list_tools()).tools) == 8
                    assert texts(await client.call_tool("echo_add", {"a": 1, "b": 2})) == ["3"]
                    with pytest.raises(MCPError, match="denied by policy: alice may not call_tool 'echo_add'"):
                        await client.call_tool("echo_add", {"a": 500, "b": 2})
                    meta = json.loads(texts(await client.call_tool("odd_meta", {}))[0])

                async with Client(_with_token(resource, bob), mode="legacy") as client:
                    assert [t.name for t in (await client.list_tools()).tools] == ["echo_echo"]
                    assert texts(await client.call_tool("echo_echo", {"text": "hi"})) == ["hi"]
                    with pytest.raises(MCPError, match="denied by policy"):
                        await client.call_tool("odd_hello", {})
                    async with httpx.AsyncClient() as http:
                        metrics = (await http.get(f"{url}/metrics")).text
                gateway_trace_spans = gateway._tracer_provider
                assert gateway_trace_spans is not None
                gateway_trace_spans.force_flush()
    finally:
        receiver.close()

    # The backend continued the gateway's trace: traceparent travelled in params._meta.
    assert meta["traceparent"].startswith("00-")
    trace_id = meta["traceparent"].split("-")[1]

    events = audit_lines(tmp_path / "audit.ndjson")
    denied = [e for e in events if e["outcome"] == "denied"]
    assert [(e["subject"], e["target"], e["backend"]) for e in denied] == [
        ("alice", "echo_add", None),
        ("bob", "odd_hello", None),
    ]
    assert [e["denied_by"] for e in denied] == ["policy", "policy"]
    assert {e["auth"] for e in events} == {"jwt"}

    spans = receiver.spans
    call_spans = [s for s in spans if s["name"] == "tools/call odd_meta"]
    assert len(call_spans) == 1
    span = call_spans[0]
    assert span["trace_id"] == trace_id and span["service"] == "gw-test" and span["kind"] == 2  # SERVER
    assert span["attributes"]["mcp.method.name"] == "tools/call"
    assert span["attributes"]["gen_ai.tool.name"] == "odd_meta"
    assert span["attributes"]["gen_ai.operation.name"] == "execute_tool"
    assert span["attributes"]["hivekeeper.backend"] == "odd"
    assert span["attributes"]["enduser.id"] == "alice"
    denied_spans = [s for s in spans if s["name"] == "tools/call echo_add" and s["status"] == 2]
    assert denied_spans and denied_spans[0]["attributes"]["error.type"] == "-32003"
    legacy = [s for s in spans if s["attributes"].get("mcp.session.id")]
    assert legacy and all(s["attributes"]["enduser.id"] == "bob" for s in legacy)

    assert 'hivekeeper_gateway_tool_calls_total{backend="echo",outcome="ok",tool="echo_add"} 1.0' in metrics
    assert 'hivekeeper_gateway_errors_total{backend="",code="-32003",method="tools/call"} 2.0' in metrics
    # Metrics label a refusal as audit does: "denied", not a generic error.
    assert 'hivekeeper_gateway_tool_calls_total{backend="",outcome="denied",tool="echo_add"} 1.0' in metrics
    assert 'hivekeeper_gateway_backend_up{backend="odd"} 1.0' in metrics
    assert "hivekeeper_gateway_active_sessions 1.0" in metrics  # bob's legacy session, open while scraping
    assert 'hivekeeper_gateway_request_duration_seconds_count{backend="echo",method="tools/call"} 2.0' in metrics


def _with_token(url: str, token: str) -> Any:
    """A Streamable HTTP transport sending ``token`` as a bearer credential."""
    return streamable_http_client(url, http_client=httpx2.AsyncClient(headers={"authorization": f"Bearer {token}"}))


async def test_rug_pull_is_withheld_alerted_and_reapproved(tmp_path: Path, scripted_env: dict[str, str]) -> None:
    config = base_config(tmp_path, scripted_env)
    config_file = tmp_path / "gateway.yaml"
    config_file.write_text(yaml.safe_dump(config))
    received: list[str] = []

    async def on_message(message: Any) -> None:
        received.append(repr(message))

    async with (
        serve_gateway(config) as (url, _),
        Client(f"{url}/mcp", mode="legacy", message_handler=on_message) as client,
    ):
        assert "odd_hello" in {tool.name for tool in (await client.list_tools()).tools}
        approved = CliRunner().invoke(app, ["tools", "approve", "--all", "--config", str(config_file), "--json"])
        assert approved.exit_code == 0, approved.output
        assert "odd/hello" in json.loads(approved.output)["approved"]

        # The backend rewrites hello's description and announces list_changed.
        assert texts(await client.call_tool("odd_mutate", {})) == ["mutated"]
        for _ in range(100):
            if "odd_hello" not in {tool.name for tool in (await client.list_tools()).tools}:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the changed tool was still listed")
        # The backend's list_changed reached this client's session stream.
        assert any("tools/list_changed" in message for message in received), received
        with pytest.raises(MCPError, match=r"odd_hello' of backend odd is withheld: its definition changed"):
            await client.call_tool("odd_hello", {})
        assert texts(await client.call_tool("echo_echo", {"text": "still here"})) == ["still here"]

        pending = CliRunner().invoke(app, ["tools", "pending", "--config", str(config_file), "--json"])
        rows = {row["tool"]: row for row in json.loads(pending.output)}
        assert rows["odd/hello"]["status"] == "changed"
        assert any(f.startswith("sensitive-path") for f in rows["odd/hello"]["findings"])
        assert any(f.startswith("exfiltration-url") for f in rows["odd/hello"]["findings"])

        again = CliRunner().invoke(app, ["tools", "approve", "odd/hello", "--config", str(config_file)])
        assert again.exit_code == 0, again.output
        assert "odd_hello" in {tool.name for tool in (await client.list_tools()).tools}
        assert texts(await client.call_tool("odd_hello", {})) == ["hello"]

    missing = CliRunner().invoke(app, ["tools", "approve", "odd/nope", "--config", str(config_file)])
    assert isinstance(missing.exception, NotFoundError)  # main() turns it into exit code 3
    assert "not observed by the gateway: odd/nope" in str(missing.exception)
    alerts = [e for e in audit_lines(tmp_path / "audit.ndjson") if e["event"] == "integrity_alert"]
    assert [(a["backend"], a["tool"], a["status"], a["withheld"]) for a in alerts] == [
        ("odd", "hello", "changed", True)
    ]


async def test_misbehaving_backends_fail_alone(tmp_path: Path, scripted_env: dict[str, str]) -> None:
    config = base_config(tmp_path, scripted_env)
    config["backends"].append({"name": "ghost", "command": [str(tmp_path / "no-such-server")]})
    async with serve_gateway(config) as (url, _):
        async with Client(f"{url}/mcp") as client:
            # Garbage first: after the death below, odd is restarting (under load, for a while) and refused.
            with pytest.raises(MCPError, match="backend odd sent a malformed answer to tools/call"):
                await client.call_tool("odd_garbage", {})
            with pytest.raises(MCPError, match="backend odd"):
                await client.call_tool("odd_die", {})
            assert texts(await client.call_tool("echo_add", {"a": 1, "b": 1})) == ["2"]
            for _ in range(100):  # the crashed backend is restarted and serves again
                try:
                    assert texts(await client.call_tool("odd_hello", {})) == ["hello"]
                    break
                except MCPError:
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("odd never came back")
        async with httpx.AsyncClient() as http:
            health = await http.get(f"{url}/healthz")
            status = (await http.get(f"{url}/gateway/status")).json()
            bad: dict[str, tuple[dict[str, Any], int, str]] = {
                "tools/call": ({"arguments": {}}, -32602, "tools/call: params.name must be a string"),
                "prompts/get": ({"name": "nope"}, -32602, "unknown prompt 'nope'"),
                "completion/complete": ({"ref": {"type": "ref/x"}}, -32602, "params.ref must name a prompt"),
                "sampling/createMessage": ({}, -32601, "method 'sampling/createMessage' is not served"),
            }
            for method, (params, code, message) in bad.items():
                answer = await _modern_rpc(http, f"{url}/mcp", method, params)
                assert answer["error"]["code"] == code and message in answer["error"]["message"], answer
    assert (health.status_code, health.json()) == (503, {"status": "degraded", "down": ["ghost"]})
    ghost = next(row for row in status["backends"] if row["name"] == "ghost")
    assert not ghost["up"] and "no-such-server" in ghost["error"]


def test_bad_config_is_rejected_naming_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(
            {
                "backends": [{"name": "a", "command": ["x"], "url": "http://h/mcp"}, {"name": "b"}],
                "conflict": "random",
                "authorization": {"policy": "permit(principal action, resource);"},
            }
        )
    )
    result = CliRunner().invoke(app, ["gateway", "--config", str(bad)])
    assert isinstance(result.exception, ConfigError)  # main() turns it into exit code 2
    message = str(result.exception)
    assert f"{bad}: backends.0: Value error, give exactly one of command, url or workload" in message
    assert f"{bad}: backends.1: Value error, give exactly one of command, url or workload" in message
    assert f"{bad}: conflict: Input should be 'prefix', 'priority' or 'manual'" in message

    policy_only = tmp_path / "policy.yaml"
    policy_only.write_text(
        yaml.safe_dump({"backends": [{"name": "a", "command": ECHO_SERVER}], "authorization": {"policy": "permit(x);"}})
    )
    result = CliRunner().invoke(app, ["gateway", "--config", str(policy_only)])
    assert isinstance(result.exception, ConfigError)
    assert "authorization.policy: line 1: invalid Cedar policy" in str(result.exception)


async def test_url_backend_gets_credentials_from_the_secret_store(tmp_path: Path) -> None:
    """Gateway B reaches gateway A over HTTP; A admits only the key B injects from its secret store,
    never the key B's own client presented."""
    upstream = {
        "name": "upstream",
        "backends": [{"name": "echo", "command": ECHO_SERVER}],
        "auth": {"api_keys": [{"name": "gateway-b", "sha256": digest("upstream-key")}]},
        "integrity": {"directory": str(tmp_path / "a")},
    }
    async with serve_gateway(upstream) as (upstream_url, _):
        downstream: dict[str, Any] = {
            "name": "edge",
            "conflict": "priority",
            "backends": [
                {
                    "name": "a",
                    "url": f"{upstream_url}/mcp",
                    "secret_headers": [{"header": "X-API-Key", "secret": "upstream-key"}],
                }
            ],
            "auth": {"api_keys": [{"name": "carol", "sha256": digest("client-key")}]},
            "integrity": {"directory": str(tmp_path / "b")},
            "audit": {"file": str(tmp_path / "b-audit.ndjson")},
        }
        secrets = SecretStore([EnvironmentProvider({"HIVEKEEPER_SECRET_UPSTREAM_KEY": "upstream-key"})])
        client_transport = streamable_http_client
        async with (
            serve_gateway(downstream, secrets) as (url, _),
            Client(client_transport(f"{url}/mcp", http_client=_keyed("client-key"))) as client,
        ):
            assert sorted(t.name for t in (await client.list_tools()).tools) == ["echo_add", "echo_echo"]
            assert texts(await client.call_tool("echo_add", {"a": 20, "b": 22})) == ["42"]
        wrong = SecretStore([EnvironmentProvider({"HIVEKEEPER_SECRET_UPSTREAM_KEY": "stale"})])
        stale = {
            **downstream,
            "backends": [{**downstream["backends"][0], "timeout": 2}],
            "integrity": {"directory": str(tmp_path / "c")},
        }
        async with serve_gateway(stale, wrong) as (url, _), httpx.AsyncClient() as http:
            status = (await http.get(f"{url}/gateway/status")).json()["backends"][0]
    assert not status["up"] and status["error"]  # the upstream refuses the stale key (see proxy-bugs: reason text)
    edge_audit = audit_lines(tmp_path / "b-audit.ndjson")
    assert [(e["subject"], e["auth"], e["backend"]) for e in edge_audit if e["method"] == "tools/call"] == [
        ("carol", "api_key", "a")
    ]


def _keyed(key: str) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(headers={"x-api-key": key})


async def test_mcp_inspector_cli_through_the_gateway(tmp_path: Path, scripted_env: dict[str, str]) -> None:
    inspector = npm_tool("mcp-inspector")
    async with serve_gateway(base_config(tmp_path, scripted_env)) as (url, _):

        async def inspect(*args: str) -> Any:
            process = await asyncio.create_subprocess_exec(
                str(inspector), "--cli", f"{url}/mcp", "--transport", "http", *args,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=node_env(),
            )  # fmt: skip
            out, err = await asyncio.wait_for(process.communicate(), 90)
            assert process.returncode == 0, err.decode()[-500:]
            return json.loads(out)

        listed = await inspect("--method", "tools/list")
        assert {"echo_add", "twin_plus", "odd_hello"} <= {tool["name"] for tool in listed["tools"]}
        called = await inspect("--method", "tools/call", "--tool-name", "echo_add", "--tool-arg", "a=19", "b=23")
        assert called["content"][0]["text"] == "42"


async def _modern_rpc(http: httpx.AsyncClient, url: str, method: str, params: dict[str, Any]) -> Any:
    """One raw 2026-07-28 request, as any client could send it."""
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
    headers = {
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": method,
    }
    if isinstance(params.get("name"), str):
        headers["mcp-name"] = params["name"]
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": meta}}
    return (await http.post(url, json=body, headers=headers)).json()


async def test_spans_exported_over_otlp_grpc(tmp_path: Path, scripted_env: dict[str, str]) -> None:
    receiver = OtlpGrpcReceiver()
    try:
        config = base_config(
            tmp_path,
            scripted_env,
            telemetry={"otlp_endpoint": receiver.url, "otlp_protocol": "grpc", "service_name": "gw-grpc"},
        )
        async with serve_gateway(config) as (url, gateway):
            async with Client(streamable_http_client(f"{url}/mcp")) as client:
                assert texts(await client.call_tool("echo_add", {"a": 2, "b": 3})) == ["5"]
            assert gateway._tracer_provider is not None
            assert gateway._tracer_provider.force_flush()
    finally:
        receiver.close()
    calls = [s for s in receiver.spans if s["name"] == "tools/call echo_add"]
    assert len(calls) == 1 and calls[0]["service"] == "gw-grpc"
    assert calls[0]["attributes"]["hivekeeper.backend"] == "echo"


def test_grpc_export_without_its_extra_names_the_field(
    tmp_path: Path, scripted_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.grpc.trace_exporter", None)
    config = base_config(
        tmp_path, scripted_env, telemetry={"otlp_endpoint": "http://127.0.0.1:4317", "otlp_protocol": "grpc"}
    )
    with pytest.raises(ConfigError, match=r"telemetry.otlp_protocol: .*hivekeeper\[otlp-grpc\]"):
        Gateway(GatewayConfig.model_validate(config))

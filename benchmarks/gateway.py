"""Benchmark: the gateway with its full chain against the backend called directly, in one run.

Targets, all serving tests/fixtures/echo_server.py:
- direct (SDK HTTP): the echo server's own Streamable HTTP endpoint, no gateway;
- hivekeeper proxy: the transport alone (stdio backend behind the same front the gateway uses), no chain;
- gateway, bare: `hivekeeper gateway` over the echo server (stdio) with every optional link off;
- gateway, full chain: the same with JWT auth (RS256, JWKS from a local endpoint), Cedar policies, an audit
  line per call to a file, OpenTelemetry spans exported over OTLP/HTTP to a local sink, Prometheus metrics
  and tool integrity checks;
- ContextForge 1.1's full gateway (`mcp-contextforge-gateway`, its own venv on a pyenv Python 3.12) over its
  stdio bridge, set up through its admin API (federated gateway + virtual server), rate limiting off and
  stateful upstream sessions on; skipped with the reason when it cannot be installed or started.

Load: raw JSON-RPC `tools/call echo` over keep-alive HTTP, 2026-07-28 stateless requests (the scale-out path:
no session state), ids unique across clients, every answer checked against the text sent, every request given
`--deadline` seconds (then counted as a timeout); calls/s and p50/p95/p99 at concurrency 1/16/64. The load
generator (benchmarks/_loadgen.py) shares the machine's cores with the target: absolute numbers are lower bounds,
the ratios between rows are the point.

Run from the repository root: `.venv/bin/python -m benchmarks.gateway [--duration 4] [--levels 1,16,64] [--json]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import yaml
from benchmarks.proxy import (  # also puts benchmarks/ on sys.path, for _loadgen
    BACKEND,
    PYTHON,
    PeerUnavailable,
    Plan,
    Target,
    _measured_pids,
    contextforge_target,
    cpu_seconds,
    hivekeeper_target,
    rss_mb,
    started,
)
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from rich.console import Console
from rich.table import Table
from tests.conftest import free_port

from _loadgen import Load, notes, problems, run_load  # from benchmarks/, which benchmarks.proxy put on sys.path

PROTOCOL = "2026-07-28"
META = {"io.modelcontextprotocol/protocolVersion": PROTOCOL, "io.modelcontextprotocol/clientCapabilities": {}}
ISSUER = "https://bench.idp"
POLICY = """
permit(principal in Group::"bench", action == Action::"call_tool", resource == Tool::"echo")
  when { context.listing || context.arguments.text != "forbidden" };
permit(principal, action == Action::"list_tools", resource);
"""
console = Console(stderr=True)


@dataclass
class Row:
    target: str
    loads: list[Load] = field(default_factory=list)
    skipped: str | None = None

    def at(self, concurrency: int) -> Load | None:
        return next((load for load in self.loads if load.concurrency == concurrency), None)


class _Sink(BaseHTTPRequestHandler):
    """Answers JWKS GETs and swallows OTLP POSTs, like an identity provider and a collector would."""

    jwks = b"{}"

    def do_GET(self) -> None:
        self._reply(self.jwks, "application/json")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self._reply(b"", "application/x-protobuf")

    def _reply(self, body: bytes, kind: str) -> None:
        self.send_response(200)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def gateway_target(name: str, port: int, config: dict[str, Any], workdir: Path) -> Target:
    path = workdir / f"{name.replace(' ', '-').replace(',', '')}.yaml"
    path.write_text(yaml.safe_dump(config))
    command = [PYTHON, "-m", "hivekeeper", "gateway", "--config", str(path), "--port", str(port)]
    return Target(name, command, port)


def _counter() -> Iterator[int]:
    n = 0
    while True:
        n += 1
        yield n


@dataclass(frozen=True)
class Endpoint:
    """Where and how the load generator calls the echo tool."""

    url: str
    token: str | None = None
    tool: str = "echo"


async def _call(http: httpx.AsyncClient, endpoint: Endpoint, request_id: int, text: str) -> dict[str, Any]:
    params = {"name": endpoint.tool, "arguments": {"text": text}, "_meta": META}
    body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}
    headers = {"mcp-method": "tools/call", "mcp-name": endpoint.tool}
    response = await http.post(endpoint.url, json=body, headers=headers)
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        for line in response.text.splitlines():
            if line.startswith("data:") and line[5:].strip():
                message = json.loads(line[5:])
                if message.get("id") == request_id:
                    return dict(message)
        raise ValueError("no answer in the SSE stream")
    return dict(response.json())


def _client(token: str | None) -> httpx.AsyncClient:
    headers = {
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": PROTOCOL,
    }
    if token:
        headers["authorization"] = f"Bearer {token}"
    return httpx.AsyncClient(timeout=30, headers=headers, limits=httpx.Limits(max_connections=1))


async def wait_ready(endpoint: Endpoint, process: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with _client(endpoint.token) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
                raise PeerUnavailable(f"exited with {process.returncode}: {stderr.strip()[-300:]}")
            try:
                answer = await _call(http, endpoint, 0, "ready?")
                if answer.get("result", {}).get("content", [{}])[0].get("text") == "ready?":
                    return
            except (httpx.HTTPError, ValueError, KeyError, IndexError):
                pass
            await asyncio.sleep(0.05)
    raise PeerUnavailable(f"no answer within {timeout:g} s of starting")


class EchoClient:
    """A load client: stateless `tools/call echo` requests on its own keep-alive connection, each answer checked."""

    def __init__(self, endpoint: Endpoint, ids: Iterator[int]) -> None:
        self.endpoint, self.ids = endpoint, ids
        self.http = _client(endpoint.token)

    async def call(self) -> bool:
        text, request_id = secrets.token_hex(8), next(self.ids)
        answer = await _call(self.http, self.endpoint, request_id, text)
        content = (answer.get("result") or {}).get("content") or [{}]
        return answer.get("id") == request_id and content[0].get("text") == text


async def load(endpoint: Endpoint, concurrency: int, seconds: float, deadline: float, cpu: Callable[[], float]) -> Load:
    ids = _counter()
    clients = [EchoClient(endpoint, ids) for _ in range(concurrency)]
    try:
        return await run_load(clients, seconds, deadline=deadline, cpu=cpu)
    finally:
        await asyncio.gather(*(client.http.aclose() for client in clients))


async def measure(target: Target, token: str | None, plan: Plan) -> Row:
    row = Row(target.name)
    with started(target) as process:
        try:
            endpoint = Endpoint(target.url, token)
            await wait_ready(endpoint, process)
        except PeerUnavailable as exc:
            row.skipped = str(exc)
            return row
        row.loads = await load_levels(endpoint, target, process.pid, plan)
    return row


async def load_levels(endpoint: Endpoint, target: Target, pid: int, plan: Plan) -> list[Load]:
    loads = []
    for concurrency in plan.levels:
        console.print(f"[dim]{target.name}: c={concurrency} for {plan.seconds:g}s…[/dim]")
        cpu = partial(cpu_seconds, _measured_pids(target, pid))
        loads.append(await load(endpoint, concurrency, plan.seconds, plan.deadline, cpu))
    return loads


async def measure_contextforge(plan: Plan) -> Row:
    """ContextForge's full gateway over its own stdio bridge: register the bridge as a federated gateway and
    a virtual server holding its tools through the admin API, then call the server's MCP endpoint."""
    row = Row("ContextForge 1.1 gateway")
    try:
        bridge = contextforge_target(free_port())
    except PeerUnavailable as exc:
        row.skipped = str(exc)
        return row
    python = bridge.command[0]
    port = free_port()
    env = {
        **bridge.env,
        "RATE_LIMITING_ENABLED": "false",  # default: 100 requests/min, then a 15-minute lockout
        "USE_STATEFUL_SESSIONS": "true",  # default: a new upstream session per call
        "SSRF_ALLOW_LOCALHOST": "true",  # the bridge listens on loopback
        "DATABASE_URL": f"sqlite:///{bridge.cwd}/bench.db",
    }
    gateway = Target(row.target, [python, "-m", "mcpgateway.cli", "--host", "127.0.0.1", "--port", str(port)], port)
    gateway.env, gateway.cwd = env, bridge.cwd
    if bridge.cwd is not None:
        (bridge.cwd / "bench.db").unlink(missing_ok=True)  # a fresh catalogue every run
    with started(bridge), started(gateway) as process:
        try:
            endpoint = await _contextforge_server(python, env, f"http://127.0.0.1:{port}", bridge.url, process)
            await wait_ready(endpoint, process)
        except (PeerUnavailable, httpx.HTTPError, KeyError, ValueError) as exc:
            row.skipped = f"could not set it up: {exc}"
            return row
        row.loads = await load_levels(endpoint, gateway, process.pid, plan)
    return row


async def _contextforge_server(python: str, env: dict[str, str], base: str, bridge_url: str, process: Any) -> Endpoint:
    made = subprocess.run(
        [
            python,
            "-m",
            "mcpgateway.utils.create_jwt_token",
            "--username",
            "admin@example.com",
            "--exp",
            "60",
            "--admin",
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    token = made.stdout.strip().splitlines()[-1] if made.returncode == 0 and made.stdout.strip() else ""
    if not token:
        raise PeerUnavailable(f"create_jwt_token failed: {made.stderr.strip()[-200:]}")
    deadline = time.monotonic() + 300  # it migrates its database on first start: minutes on a busy machine
    async with httpx.AsyncClient(base_url=base, headers={"authorization": f"Bearer {token}"}, timeout=60) as http:
        while True:
            if process.poll() is not None:
                raise PeerUnavailable(f"exited with {process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get("/health")).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise PeerUnavailable("not healthy within 300 s")
            await asyncio.sleep(1)
        registered = await http.post(
            "/gateways", json={"name": "echo", "url": bridge_url, "transport": "STREAMABLEHTTP"}
        )
        registered.raise_for_status()
        tools = (await http.get("/tools")).json()
        ids = [tool["id"] for tool in tools]
        server = await http.post("/servers", json={"server": {"name": "bench", "associated_tools": ids}})
        server.raise_for_status()
        name = next(tool["name"] for tool in tools if tool["name"].endswith("echo"))
        return Endpoint(f"{base}/servers/{server.json()['id']}/mcp", token, name)


async def run(plan: Plan, *, contextforge: bool) -> list[Row]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": "bench", "alg": "RS256", "use": "sig"}
    _Sink.jwks = json.dumps({"keys": [jwk]}).encode()
    sink = ThreadingHTTPServer(("127.0.0.1", free_port()), _Sink)
    threading.Thread(target=sink.serve_forever, args=(0.05,), daemon=True).start()
    sink_url = f"http://127.0.0.1:{sink.server_address[1]}"
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="hk-bench-gateway-") as tmp:
        workdir = Path(tmp)
        base = {"backends": [{"name": "echo", "command": BACKEND}], "conflict": "priority"}
        bare = {
            **base,
            "integrity": {"enabled": False},
            "telemetry": {"metrics": False},
        }
        port = free_port()
        full = {
            **base,
            "auth": {"oidc": {"issuer": ISSUER, "jwks_url": f"{sink_url}/jwks"}},
            "authorization": {"policy": POLICY},
            "audit": {"file": str(workdir / "audit.ndjson"), "arguments": True},
            "telemetry": {"otlp_endpoint": sink_url, "metrics": True},
            "integrity": {"directory": str(workdir / "integrity")},
        }
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": "bench", "groups": ["bench"], "aud": f"http://127.0.0.1:{port}/mcp"}
        token = jwt.encode({**claims, "iat": now, "exp": now + 3600}, key, algorithm="RS256", headers={"kid": "bench"})
        direct_port = free_port()
        targets: list[tuple[Target, str | None]] = [
            (Target("direct (SDK HTTP)", [*BACKEND, "--http", str(direct_port)], direct_port, is_proxy=False), None),
            (hivekeeper_target(free_port()), None),
            (gateway_target("gateway, bare", free_port(), bare, workdir), None),
            (gateway_target("gateway, full chain", port, full, workdir), token),
        ]
        for target, bearer in targets:
            rows.append(await measure(target, bearer, plan))
        audit_lines = sum(1 for _ in (workdir / "audit.ndjson").open()) if (workdir / "audit.ndjson").exists() else 0
        console.print(f"[dim]full chain wrote {audit_lines} audit lines[/dim]")
    sink.shutdown()
    if contextforge:
        rows.append(await measure_contextforge(plan))
    return rows


async def soak(sessions: int, hold: float, concurrency: int) -> dict[str, Any]:
    """Open `sessions` 2025-11-25 sessions on one gateway (full chain) and keep calling through all of them for
    `hold` seconds; report errors and the gateway's RSS over time (it should stay flat)."""
    with tempfile.TemporaryDirectory(prefix="hk-soak-") as tmp:
        port = free_port()
        config = {
            "backends": [{"name": "echo", "command": BACKEND}],
            "conflict": "priority",
            "audit": {"file": str(Path(tmp) / "audit.ndjson")},
            "integrity": {"directory": str(Path(tmp) / "integrity")},
            "front": {"session_ttl": hold + 600},
        }
        target = gateway_target("gateway soak", port, config, Path(tmp))
        with started(target) as process:
            await wait_ready(Endpoint(target.url), process)
            pids = _measured_pids(target, process.pid)
            limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
            async with httpx.AsyncClient(timeout=60, limits=limits, headers=_LEGACY_HEADERS) as http:
                gate = asyncio.Semaphore(concurrency)
                ids = _counter()
                opened = await asyncio.gather(
                    *(_open_session(http, target.url, next(ids), gate) for _ in range(sessions))
                )
                rss = [(0.0, rss_mb(pids))]
                counts = {"calls": 0, "errors": 0, "wrong": 0}
                began = time.monotonic()

                async def keep_calling(worker: int) -> None:
                    n = worker
                    while time.monotonic() - began < hold:
                        session = opened[n % len(opened)]
                        n += concurrency
                        text, request_id = secrets.token_hex(6), next(ids)
                        body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
                                "params": {"name": "echo", "arguments": {"text": text}}}  # fmt: skip
                        try:
                            response = await http.post(target.url, json=body, headers={"mcp-session-id": session})
                            answer = response.json()
                        except (httpx.HTTPError, ValueError):
                            counts["errors"] += 1
                            continue
                        counts["calls"] += 1
                        if (answer.get("result") or {}).get("content", [{}])[0].get("text") != text:
                            counts["wrong"] += 1

                async def sample() -> None:
                    while time.monotonic() - began < hold:
                        await asyncio.sleep(min(10.0, hold / 6))
                        rss.append((round(time.monotonic() - began), rss_mb(pids)))

                await asyncio.gather(sample(), *(keep_calling(w) for w in range(concurrency)))
                sessions_open = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
        active = next(
            (line.split()[-1] for line in sessions_open.splitlines() if line.startswith("hivekeeper_gateway_active")),
            "?",
        )
        return {"sessions": sessions, "hold_s": hold, "active_sessions_at_end": active, **counts, "rss_mb": rss}


_LEGACY_HEADERS = {
    "content-type": "application/json",
    "accept": "application/json, text/event-stream",
    "mcp-protocol-version": "2025-11-25",
}


async def _open_session(http: httpx.AsyncClient, url: str, request_id: int, gate: asyncio.Semaphore) -> str:
    params = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "soak", "version": "1"}}
    async with gate:
        response = await http.post(
            url, json={"jsonrpc": "2.0", "id": request_id, "method": "initialize", "params": params}
        )
        response.raise_for_status()
        return response.headers["mcp-session-id"]


def markdown(rows: list[Row], levels: list[int]) -> str:
    """The results as a Markdown table (for the README)."""
    head = ["target", *(f"c={c} calls/s | c={c} p50 / p95 / p99 ms" for c in levels), "CPU ms/call"]
    head.append("wrong/errors/timeouts")
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (2 * len(levels) + 2) + "|"]
    for row in rows:
        if row.skipped:
            lines.append(f"| {row.target} | " + " | ".join(["—"] * (2 * len(levels) + 2)) + " |")
            continue
        cells = []
        for level in levels:
            at = row.at(level)
            cells += [f"{at.calls_per_s:,.0f}", at.latency_ms] if at else ["", ""]
        cpu = [load.cpu_ms_per_call for load in row.loads if load.cpu_ms_per_call is not None]
        cells += [f"{min(cpu):.3f}" if cpu else "", problems(row.loads)]
        lines.append(f"| {row.target} | " + " | ".join(cells) + " |")
    remarks = [f"- {line}" for row in rows for line in notes(row.target, row.loads)]
    return "\n".join([*lines, "", *remarks] if remarks else lines)


def report(rows: list[Row], levels: list[int]) -> None:
    table = Table(title="gateway: tools/call echo, 2026-07-28 stateless requests")
    table.add_column("target")
    for level in levels:
        table.add_column(f"c={level} calls/s", justify="right")
        table.add_column(f"c={level} p50/p95/p99 ms", justify="right")
    table.add_column("CPU ms/call", justify="right")
    table.add_column("wrong/errors/timeouts", justify="right")
    for row in rows:
        if row.skipped:
            table.add_row(row.target, *[""] * (2 * len(levels)), "", row.skipped[:60] + "…")
            continue
        cells = []
        for level in levels:
            load_at = row.at(level)
            cells += [f"{load_at.calls_per_s:,.0f}", load_at.latency_ms] if load_at else ["", ""]
        cpu = [load.cpu_ms_per_call for load in row.loads if load.cpu_ms_per_call is not None]
        table.add_row(row.target, *cells, f"{min(cpu):.3f}" if cpu else "", problems(row.loads))
    Console(width=max(Console().width, 160)).print(table)
    for line in (line for row in rows for line in notes(row.target, row.loads)):
        print(line)
    measured = {row.target: row for row in rows if not row.skipped}
    direct, bare, full = (measured.get(n) for n in ("direct (SDK HTTP)", "gateway, bare", "gateway, full chain"))
    if direct and full and direct.at(1) and full.at(1):
        d1, f1 = direct.at(1), full.at(1)
        assert d1 is not None and f1 is not None
        print(f"full chain p50 at c=1: {f1.p50_ms - d1.p50_ms:+.2f} ms over direct (target ≤ +1 ms)")
    if bare and full and bare.at(1) and full.at(1):
        b1, f1 = bare.at(1), full.at(1)
        assert b1 is not None and f1 is not None
        print(f"the chain itself (full − bare) p50 at c=1: {f1.p50_ms - b1.p50_ms:+.2f} ms")
    if full:
        best = max(load.calls_per_s for load in full.loads)
        print(f"full chain peak: {best:,.0f} calls/s through one gateway process (target ≥ 2,000)")
        if direct:
            for load_at in full.loads:
                d = direct.at(load_at.concurrency)
                if d and d.calls_per_s:
                    print(f"c={load_at.concurrency}: full chain / direct = {load_at.calls_per_s / d.calls_per_s:.2f}×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds of load per level")
    parser.add_argument("--levels", default="1,16,64", help="comma-separated concurrency levels")
    parser.add_argument("--deadline", type=float, default=10.0, help="seconds a request may take: then a timeout")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    parser.add_argument("--no-contextforge", action="store_true", help="skip ContextForge (minutes to set up)")
    parser.add_argument("--soak", type=int, metavar="N", help="instead: hold N legacy sessions busy (RSS, errors)")
    parser.add_argument("--hold", type=float, default=300.0, help="--soak duration in seconds")
    args = parser.parse_args()
    if args.soak:
        print(json.dumps(asyncio.run(soak(args.soak, args.hold, concurrency=32))))
        return
    levels = [int(level) for level in args.levels.split(",")]
    plan = Plan(args.duration, levels, args.deadline)
    rows = asyncio.run(run(plan, contextforge=not args.no_contextforge))
    if args.json:
        print(
            json.dumps(
                [
                    {**asdict(row), "loads": [{**asdict(x), "calls_per_s": x.calls_per_s} for x in row.loads]}
                    for row in rows
                ],
                indent=2,
            )
        )
    else:
        report(rows, levels)
        if args.markdown:
            print(markdown(rows, levels))


if __name__ == "__main__":
    main()

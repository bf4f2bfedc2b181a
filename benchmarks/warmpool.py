"""Warm pools: what a request waits for when a server is started cold, woken from idle-stop, or
taken from a warm pool — side by side, in one run, through the manager and the sandbox runtime.

    .venv/bin/python benchmarks/warmpool.py [--runs 10]

The manager is the real daemon (as `hivekeeper run` starts it), in a temporary hivekeeper home; the
client measuring is this process. Rows (medians, ratios against the cold start):
  cold start          `run` of a new workload until its first tools/list answers (process, handshake, front)
  woken from idle     a request to an idle-stopped workload (--idle-stop), until its tools/list answers
  warm pool, client   a new SDK client's connect + tools/list while a pool instance is ready
  warm pool, TTFB     first byte of a tools/list answer on an open session while a pool instance is ready

``warm_pool_row()`` also gives ``benchmarks/coldstart.py`` its "warm pool" row.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from mcp import Client

REPO = Path(__file__).resolve().parent.parent
ECHO = REPO / "tests" / "fixtures" / "echo_server.py"
HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


def echo_spec(name: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "source": sys.executable,
        "args": [str(ECHO)],
        "volumes": [f"{ECHO.parent}:{ECHO.parent}:ro"],
        **fields,
    }


def _exited(pid: int) -> bool:
    try:
        return "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text()  # a zombie has exited too
    except FileNotFoundError:
        return True


class Daemon:
    """The manager daemon in its own temporary hivekeeper home, driven over its control socket."""

    def __init__(self) -> None:
        self.home = tempfile.mkdtemp(prefix="hk-bench-")
        os.environ["HIVEKEEPER_HOME"] = self.home
        from hivekeeper.workloads.control import ManagerClient

        self.client = ManagerClient().ensure_running()
        self.pid = int(self.client.call("ping")["pid"])

    async def call(self, op: str, **args: Any) -> Any:
        return await asyncio.to_thread(self.client.call, op, **args)

    async def close(self) -> None:
        for record in await self.call("list"):
            await self.call("rm", name=record["name"])
        os.kill(self.pid, signal.SIGTERM)
        while not _exited(self.pid):
            await asyncio.sleep(0.05)
        shutil.rmtree(self.home, ignore_errors=True)


async def list_tools(url: str) -> None:
    async with Client(url) as client:
        await client.list_tools()


async def open_session(http: httpx.AsyncClient, url: str) -> dict[str, str]:
    params = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}
    response = await http.post(
        url, headers=HEADERS, json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}
    )
    session = {**HEADERS, "mcp-session-id": response.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
    await http.post(url, headers=session, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
    return session


async def first_byte(http: httpx.AsyncClient, url: str, headers: dict[str, str], request_id: int) -> float:
    body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/list"}
    started = time.perf_counter()
    elapsed = 0.0
    async with http.stream("POST", url, headers=headers, json=body) as response:
        async for _ in response.aiter_raw():
            if not elapsed:
                elapsed = time.perf_counter() - started
    return elapsed


async def sample(runs: int, once: Callable[[int], Awaitable[float]]) -> list[float]:
    await once(-1)  # warm-up outside the measurement
    return [await once(n) for n in range(runs)]


async def measure(runs: int) -> list[tuple[str, list[float]]]:
    daemon = Daemon()
    results: list[tuple[str, list[float]]] = []
    try:

        async def cold(n: int) -> float:
            started = time.perf_counter()
            record = await daemon.call("run", spec_document=echo_spec(f"cold{n + 1}"))
            await list_tools(str(record["url"]))
            elapsed = time.perf_counter() - started
            await daemon.call("rm", name=f"cold{n + 1}")
            return elapsed

        results.append(("cold start", await sample(runs, cold)))

        sleepy = await daemon.call("run", spec_document=echo_spec("sleepy", idle_stop="300ms"))

        async def woken(_: int) -> float:
            while (await daemon.call("status", name="sleepy"))["status"] != "idle":
                await asyncio.sleep(0.05)
            started = time.perf_counter()
            await list_tools(str(sleepy["url"]))
            return time.perf_counter() - started

        results.append(("woken from idle", await sample(runs, woken)))

        pooled = await daemon.call("run", spec_document=echo_spec("pooled", pool=2))
        url = str(pooled["url"])

        async def warm_client(_: int) -> float:
            started = time.perf_counter()
            await list_tools(url)
            return time.perf_counter() - started

        results.append(("warm pool, new client", await sample(runs, warm_client)))
        async with httpx.AsyncClient() as http:
            headers = await open_session(http, url)
            results.append(("warm pool, TTFB", await sample(runs * 5, lambda n: first_byte(http, url, headers, n + 2))))
    finally:
        await daemon.close()
    return results


def warm_pool_row() -> tuple[
    str, Callable[[], contextlib.AbstractAsyncContextManager[Client]], Callable[[], Awaitable[None]]
]:
    """(label, starter, close) for ``benchmarks/coldstart.py``: a new client served by a ready pool instance."""
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def start() -> AsyncIterator[Client]:
        if "url" not in state:  # the first call is coldstart's warm-up run, outside its measurement
            state["daemon"] = Daemon()
            state["url"] = str((await state["daemon"].call("run", spec_document=echo_spec("bench-pool")))["url"])
        async with Client(state["url"]) as client:
            yield client

    async def close() -> None:
        if "daemon" in state:
            await state["daemon"].close()

    return "warm pool (sandbox, --pool 1)", start, close


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    results = asyncio.run(measure(args.runs))
    cold = statistics.median(results[0][1])
    print(f"\nRequest waits, echo server in the sandbox runtime, {args.runs} runs (TTFB: {args.runs * 5})")
    print("| row | median ms | p90 ms | × cold start |")
    print("|---|---|---|---|")
    for label, samples in results:
        median = statistics.median(samples)
        p90 = sorted(samples)[max(0, int(len(samples) * 0.9) - 1)]
        print(f"| {label} | {median * 1000:.2f} | {p90 * 1000:.2f} | {median / cold:.3f} |")
    ttfb = statistics.median(results[-1][1]) * 1000
    print(f"warm pool time to first byte: {ttfb:.2f} ms (target ≤ 5 ms)")


if __name__ == "__main__":
    main()

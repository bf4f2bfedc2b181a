"""Registry API latency and throughput with 10,000 entries, SQLite vs PostgreSQL, side by side.

    .venv/bin/python benchmarks/registry.py [--entries 10000] [--requests 400] [--concurrency 16] [--no-postgres]

Each database gets the same catalogue (imported in one transaction), then a real ``uvicorn`` process
serves the registry API over it and this script measures, over keep-alive HTTP:

* p50 / p99 latency of each query, one request at a time;
* requests/s of the same query mix at ``--concurrency`` clients.

PostgreSQL 15 is started from Debian's binaries (as in the tests) in a temporary folder on a free
loopback port. Ratios are PostgreSQL over SQLite (latency: >1 means PostgreSQL is slower).
It also loads portal pages in headless Chromium (Debian's ``/usr/bin/chromium``) and reports first
contentful paint p50/p99. Targets: ``GET /v0.1/servers?search=…`` p50 ≤ 10 ms on SQLite; portal first
paint ≤ 300 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import free_port, wait_for_http  # noqa: E402
from tests.registry.conftest import PostgresServer  # noqa: E402

from hivekeeper.registry import RegistryStore, TrustTier  # noqa: E402

WORDS = ["weather", "git", "files", "calendar", "search", "database", "slack", "tickets", "maps", "memory"]
# What `hivekeeper serve` runs (registry API + portal), over the benchmark's database.
SERVE = """
import sys, uvicorn
from hivekeeper.portal import PortalSettings
from hivekeeper.registry import RegistrySettings
from hivekeeper.server import ServerConfig, build_app
config = ServerConfig(
    registry=RegistrySettings(database_url=sys.argv[1], starter_catalogue=False),
    portal=PortalSettings(workloads=False),
)
uvicorn.run(build_app(config), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
"""
CHROMIUM = Path("/usr/bin/chromium")
PAGES = {"catalogue /": "/", "server page": "/portal/servers/io.github.org245/database-server-00245"}
FIRST_CONTENTFUL_PAINT = """() => new Promise(resolve => {
  new PerformanceObserver(list => resolve(list.getEntries()[0].startTime)).observe({type: 'paint', buffered: true});
  setTimeout(() => resolve(null), 5000);
})"""


def catalogue(entries: int) -> list[dict[str, object]]:
    documents: list[dict[str, object]] = []
    for index in range(entries):
        word = WORDS[index % len(WORDS)]
        documents.append(
            {
                "name": f"io.github.org{index % 500:03d}/{word}-server-{index:05d}",
                "title": f"{word.title()} server {index}",
                "description": f"MCP server number {index} for {word} tasks",
                "version": f"1.{index % 7}.0",
                "packages": [
                    {
                        "registryType": "npm",
                        "identifier": f"@org{index % 500}/{word}-mcp-{index}",
                        "version": f"1.{index % 7}.0",
                        "fileSha256": f"{index:064x}",
                        "transport": {"type": "stdio"},
                    }
                ],
            }
        )
    return documents


QUERIES = {
    "list first page": ("/v0.1/servers", {"limit": "30"}),
    "list latest": ("/v0.1/servers", {"limit": "30", "version": "latest"}),
    "search (1 hit)": ("/v0.1/servers", {"search": "server-04242"}),
    "search (1,000 hits)": ("/v0.1/servers", {"search": "calendar"}),
    "search (no hit)": ("/v0.1/servers", {"search": "no-such-thing"}),
    "get latest version": ("/v0.1/servers/io.github.org245%2Fdatabase-server-00245/versions/latest", {}),
}


@contextmanager
def serving(database_url: str) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    process = subprocess.Popen([sys.executable, "-c", SERVE, database_url, str(port)], env=env)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/v0.1/health", timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=15)


def latencies(base: str, path: str, params: dict[str, str], requests: int) -> list[float]:
    samples = []
    with httpx.Client(base_url=base) as client:
        for _ in range(20):  # warm-up: connection, caches, query compilation
            client.get(path, params=params).raise_for_status()
        for _ in range(requests):
            started = time.perf_counter()
            response = client.get(path, params=params)
            samples.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
    return samples


async def throughput(base: str, requests: int, concurrency: int) -> float:
    mix = list(QUERIES.values())
    async with httpx.AsyncClient(base_url=base, limits=httpx.Limits(max_connections=concurrency)) as client:

        async def worker(offset: int) -> None:
            for step in range(requests // concurrency):
                path, params = mix[(offset + step) % len(mix)]
                (await client.get(path, params=params)).raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(worker(index) for index in range(concurrency)))
        return (requests // concurrency) * concurrency / (time.perf_counter() - started)


def first_paints(base: str, loads: int) -> dict[str, tuple[float, float]]:
    """p50/p99 first contentful paint of portal pages in headless Chromium (Debian's), after one warm-up."""
    from playwright.sync_api import sync_playwright

    flags = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
    result = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=flags)
        page = browser.new_page()
        page.goto(base + "/portal/playground")  # a fresh Chromium's first navigation also starts a renderer
        for label, path in PAGES.items():
            paints = []
            for _ in range(loads):
                page.goto(base + path)
                paints.append(page.evaluate(FIRST_CONTENTFUL_PAINT))
            paints = sorted(paint for paint in paints if paint is not None)
            result[label] = (statistics.median(paints), paints[max(0, int(len(paints) * 0.99) - 1)])
        browser.close()
    return result


@dataclass
class Measured:
    latency: dict[str, tuple[float, float]] = field(default_factory=dict)  # query -> (p50, p99) ms
    requests_per_second: float = 0.0
    paint: dict[str, tuple[float, float]] = field(default_factory=dict)  # page -> (p50, p99) ms


def measure(label: str, database_url: str, documents: list[dict[str, object]], args: argparse.Namespace) -> Measured:
    store = RegistryStore.open(database_url)
    started = time.perf_counter()
    store.import_entries(documents, tier=TrustTier.COMMUNITY, source="benchmark")
    print(f"{label}: imported {store.count():,} entries in {time.perf_counter() - started:.1f} s", flush=True)
    store.close()
    result = Measured()
    with serving(database_url) as base:
        for name, (path, params) in QUERIES.items():
            samples = sorted(latencies(base, path, params, args.requests))
            result.latency[name] = (statistics.median(samples), samples[int(len(samples) * 0.99) - 1])
        result.requests_per_second = asyncio.run(throughput(base, args.requests * 4, args.concurrency))
        if CHROMIUM.exists() and not args.no_portal:
            result.paint = first_paints(base, args.paint_loads)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=400, help="Sequential requests per query.")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-portal", action="store_true", help="Skip the portal first-paint measurement.")
    parser.add_argument("--paint-loads", type=int, default=30, help="Page loads per portal page.")
    args = parser.parse_args()

    documents = catalogue(args.entries)
    results: dict[str, Measured] = {}
    with tempfile.TemporaryDirectory(prefix="hk-bench-") as folder:
        results["SQLite"] = measure("SQLite", f"sqlite:///{folder}/registry.db", documents, args)
    if not args.no_postgres:
        postgres = PostgresServer()
        postgres.start()
        try:
            results["PostgreSQL"] = measure("PostgreSQL", postgres.new_database(), documents, args)
        finally:
            postgres.stop()

    backends = list(results)
    print(f"\nRegistry API, {args.entries:,} entries, {args.requests} sequential requests per query (ms)")
    header = f"{'query':<22}" + "".join(f"{name + ' p50':>16}{name + ' p99':>16}" for name in backends)
    if len(backends) == 2:
        header += f"{'p50 ratio':>12}"
    print(header)
    for query in QUERIES:
        line = f"{query:<22}"
        for name in backends:
            p50, p99 = results[name].latency[query]
            line += f"{p50:>16.2f}{p99:>16.2f}"
        if len(backends) == 2:
            ratio = results[backends[1]].latency[query][0] / results[backends[0]].latency[query][0]
            line += f"{ratio:>11.2f}x"
        print(line)
    line = f"{'req/s (c=' + str(args.concurrency) + ', mix)':<22}" + "".join(
        f"{results[name].requests_per_second:>16.0f}{'':>16}" for name in backends
    )
    if len(backends) == 2:
        line += f"{results[backends[1]].requests_per_second / results[backends[0]].requests_per_second:>11.2f}x"
    print(line)
    if all(result.paint for result in results.values()):
        print(f"\nPortal first contentful paint, {args.paint_loads} loads per page (ms)")
        for label in PAGES:
            line = f"{label:<22}"
            for name in backends:
                p50, p99 = results[name].paint[label]
                line += f"{p50:>16.0f}{p99:>16.0f}"
            print(line)
        worst = max(results[name].paint[label][0] for name in backends for label in PAGES)
        print(f"target: portal first paint <= 300 ms: {'met' if worst <= 300 else 'MISSED'} (worst p50 {worst:.0f} ms)")
    p50 = results["SQLite"].latency["search (1 hit)"][0]
    print(f"\ntarget: search p50 <= 10 ms on SQLite: {'met' if p50 <= 10 else 'MISSED'} ({p50:.2f} ms)")


if __name__ == "__main__":
    main()

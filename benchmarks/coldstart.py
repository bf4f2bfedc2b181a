"""Cold start: from "start this server" to its first successful ``tools/list``, side by side.

    .venv/bin/python benchmarks/coldstart.py [--runs 10] [--no-docker]

Rows: the echo fixture (an SDK MCPServer) as a bare process, in the sandbox runtime without and with
an egress allowlist, and in a docker container (when a private dockerd can be started here; needs
root and docker.io). A second table isolates the sandbox's own setup cost: launching ``/bin/true``
bare vs. sandboxed, until it has exited. Rows are measured round-robin so load spells hit all alike;
ratios compare medians against the bare row.

To add a row (e.g. a warm pool), append ``Row(label, starter)`` to ``ROWS`` — a starter is an async
function returning an async context manager that yields a connected ``mcp.Client``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "runtime"))

from engine import DOCKER, EngineUnavailable, container_engine, ensure_python_image  # noqa: E402
from mcp import Client  # noqa: E402
from runtime_helpers import python_spec  # noqa: E402

from hivekeeper.runtime.base import EgressRule, LaunchSpec, Limits, Runtime  # noqa: E402
from hivekeeper.runtime.client import process_transport  # noqa: E402
from hivekeeper.runtime.docker import DockerRuntime  # noqa: E402
from hivekeeper.runtime.sandbox import SandboxRuntime  # noqa: E402
from hivekeeper.workloads.runtimes import ProcessRuntime  # noqa: E402

LIMITS = Limits(memory_bytes=512 << 20, cpus=1.0, pids=256)
Starter = Callable[[], contextlib.AbstractAsyncContextManager[Client]]


@dataclass
class Row:
    label: str
    starter: Starter
    close: Callable[[], Awaitable[None]] | None = None  # tears down what the starter kept running

    async def measure(self) -> float:
        started = time.perf_counter()
        async with self.starter() as client:
            await client.list_tools()
            return time.perf_counter() - started


@dataclass
class ExitRow:
    """Launch until exit of a do-nothing command: what isolation costs before any server code runs."""

    label: str
    runtime: Runtime
    spec: LaunchSpec
    teardowns: list[float] = field(default_factory=list)
    # CPU seconds spent on the launch (this process + the reaped process tree): unlike wall time, it
    # barely moves with machine load, so it shows what isolation itself costs.
    cpu: list[float] = field(default_factory=list)

    async def measure(self) -> float:
        cpu_before = _cpu_seconds()
        started = time.perf_counter()
        process = await self.runtime.launch(self.spec)
        await process.wait()
        elapsed = time.perf_counter() - started
        self.cpu.append(_cpu_seconds() - cpu_before)
        started = time.perf_counter()
        await self.runtime.cleanup(self.spec.name)
        self.teardowns.append(time.perf_counter() - started)
        return elapsed


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def launched(runtime: Runtime, spec: LaunchSpec) -> Starter:
    @contextlib.asynccontextmanager
    async def start() -> AsyncIterator[Client]:
        process = await runtime.launch(spec)
        try:
            async with Client(process_transport(process)) as client:
                yield client
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()
            await runtime.cleanup(spec.name)

    return start


async def interleaved(measures: list[Callable[[], Awaitable[float]]], runs: int) -> list[list[float]]:
    """Round-robin over the rows, so a busy spell on the machine hits every row alike."""
    samples: list[list[float]] = [[] for _ in measures]
    for _ in range(runs):
        for index, measure in enumerate(measures):
            samples[index].append(await measure())
    return samples


def print_table(
    title: str, labels: list[str], samples: list[list[float]], extra: dict[str, list[list[float]]] | None = None
) -> None:
    """Wall-time columns for ``samples``, plus one median column per ``extra`` entry (empty list: blank)."""
    extra = extra or {}
    baseline = statistics.median(samples[0])
    print(f"\n{title}\n")
    print("| | min ms | median ms | p90 ms | × bare (median) |" + "".join(f" {name} |" for name in extra))
    print("|---|---:|---:|---:|---:|" + "---:|" * len(extra))
    for index, (label, row) in enumerate(zip(labels, samples, strict=True)):
        median = statistics.median(row)
        p90 = sorted(row)[max(0, round(len(row) * 0.9) - 1)]
        cells = [f"{value * 1000:.1f}" for value in (min(row), median, p90)] + [f"{median / baseline:.2f}"]
        cells += [
            f"{statistics.median(column[index]) * 1000:.1f}" if column[index] else "" for column in extra.values()
        ]
        print(f"| {label} | {' | '.join(cells)} |")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--no-docker", action="store_true")
    args = parser.parse_args()
    with open("/proc/loadavg") as loadavg:
        print(f"load average before: {' '.join(loadavg.read().split()[:3])} on {os.cpu_count()} CPUs")

    with tempfile.TemporaryDirectory() as scratch, contextlib.ExitStack() as stack:
        sandbox = SandboxRuntime(state_root=Path(scratch) / "sandbox")
        if reason := sandbox.unavailable_reason():
            raise SystemExit(f"sandbox runtime unavailable: {reason}")
        bare = ProcessRuntime()
        echo = replace(python_spec("bench-echo", "echo_server.py"), limits=LIMITS)
        egress = replace(echo, egress=[EgressRule("example.com", 443)])
        rows = [
            Row("bare process", launched(bare, echo)),
            Row("sandbox", launched(sandbox, echo)),
            Row("sandbox + egress proxy", launched(sandbox, egress)),
        ]
        if not args.no_docker:
            try:
                base_url = stack.enter_context(container_engine(DOCKER, Path(scratch) / "dockerd.log"))
                docker = DockerRuntime(base_url=base_url)
                image = ensure_python_image(docker.client)
                rows.append(Row("docker", launched(docker, replace(echo, image=image))))
            except EngineUnavailable as exc:
                print(f"(docker row skipped: {exc})")
        rows += ROWS

        for row in rows:  # warm caches (page cache, image layers, imports) outside the measurement
            await row.measure()
        samples = await interleaved([row.measure for row in rows], args.runs)
        print_table(
            f"Cold start to first tools/list, echo server, {args.runs} runs each",
            [row.label for row in rows],
            samples,
        )
        for row in rows:
            if row.close is not None:
                await row.close()

        true = LaunchSpec(name="bench-true", command=["/bin/true"], limits=LIMITS)
        exits = [
            ExitRow("bare /bin/true", bare, true),
            ExitRow("sandbox /bin/true", sandbox, true),
            ExitRow("sandbox + egress /bin/true", sandbox, replace(true, egress=[EgressRule("example.com", 443)])),
        ]
        setup_runs = args.runs * 5
        exit_samples = await interleaved([row.measure for row in exits], setup_runs)
        print_table(
            f"Isolation setup on its own: launch until exit of /bin/true, {setup_runs} runs each",
            [row.label for row in exits],
            exit_samples,
            {
                "CPU ms (median)": [row.cpu for row in exits],
                "teardown ms (median)": [row.teardowns if row.runtime is not bare else [] for row in exits],
            },
        )
        print()
        bare_samples = exit_samples[0]
        for exit_row, measured in zip(exits[1:], exit_samples[1:], strict=True):
            median_added = (statistics.median(measured) - statistics.median(bare_samples)) * 1000
            min_added = (min(measured) - min(bare_samples)) * 1000
            added = f"+{median_added:.1f} ms (median), +{min_added:.1f} ms (min)"
            print(f"{exit_row.label}: {added} over bare; target ≤ 50 ms")
    with open("/proc/loadavg") as loadavg:
        print(f"load average after: {' '.join(loadavg.read().split()[:3])}")


# Extra rows other parts register (e.g. the warm pool); see the module docstring.
ROWS: list[Row] = []
sys.path.insert(0, str(REPO / "benchmarks"))
from warmpool import warm_pool_row  # noqa: E402 - the workloads part's row

ROWS.append(Row(*warm_pool_row()))

if __name__ == "__main__":
    asyncio.run(main())

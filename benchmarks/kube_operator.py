"""Operator cost per reconcile, side by side: render only, and a full reconcile against an API server.

The API server is the kmock emulator on loopback (no real cluster here), in a child process so the
numbers are the operator's own CPU: rendering, JSON, HTTP client work. Prints per-reconcile CPU and wall time for a
changed MCPServer (every object differs: a config change re-applies the ConfigMap and Deployment)
and for an unchanged one (the periodic drift check), plus the process RSS.

    .venv/bin/python benchmarks/kube_operator.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import multiprocessing
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import kmock
import yaml

from hivekeeper.operator.kubeapi import Connection, KubeClient
from hivekeeper.operator.reconcile import Reconciler
from hivekeeper.operator.render import render

SEED = Path(__file__).resolve().parents[1] / "tests/operator/fixtures/seed-mcpserver.yaml"
KINDS = (
    "apps/v1/deployments",
    "v1/services",
    "v1/configmaps",
    "networking.k8s.io/v1/networkpolicies",
    "v1/persistentvolumeclaims",
)


def _server() -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load(SEED.read_text())
    body["spec"]["command"] = ["slack-mcp"]
    body["metadata"]["uid"] = "0d5f3c1e-1111-4222-8333-444455556666"
    return body


def _measure(work: Any, rounds: int) -> tuple[float, float]:
    cpu, wall = [], []
    for index in range(rounds):
        started_cpu, started_wall = time.process_time(), time.perf_counter()
        work(index)
        cpu.append(time.process_time() - started_cpu)
        wall.append(time.perf_counter() - started_wall)
    return statistics.median(cpu) * 1000, statistics.median(wall) * 1000


def _emulator(url_out: Any) -> None:
    async def serve() -> None:
        async with kmock.KubernetesEmulator() as emulator, kmock.Server(emulator):
            for kind in KINDS:
                emulator.resources[kind] = {}
            url_out.send(str(emulator.url))
            await asyncio.Event().wait()

    asyncio.run(serve())


async def _reconciles(url: str, rounds: int) -> tuple[tuple[float, float], tuple[float, float]]:
    reconciler = Reconciler(KubeClient(Connection(server=url)))
    results = []
    for changed in (True, False):
        cpu, wall = [], []
        for index in range(rounds):
            body = _server()
            if changed:  # a different allowlist every round: ConfigMap + Deployment re-applied
                body["spec"]["policies"][0]["config"]["allowedTools"] = [f"tool_{index}"]
            started_cpu, started_wall = time.process_time(), time.perf_counter()
            await reconciler.reconcile(body)
            cpu.append(time.process_time() - started_cpu)
            wall.append(time.perf_counter() - started_wall)
        results.append((statistics.median(cpu) * 1000, statistics.median(wall) * 1000))
    await reconciler.client.aclose()
    return results[0], results[1]


def _operator_rss(url: str) -> float:
    """RSS (MB) of a real `hivekeeper kube operator` process once it is up (kopf + hivekeeper, idle)."""
    with tempfile.TemporaryDirectory() as folder:
        kubeconfig = Path(folder) / "kubeconfig"
        kubeconfig.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "bench",
                    "clusters": [{"name": "bench", "cluster": {"server": url}}],
                    "users": [{"name": "bench", "user": {}}],
                    "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": "bench"}}],
                }
            )
        )
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hivekeeper",
                "kube",
                "operator",
                "-n",
                "bench",
                "--liveness",
                f"http://127.0.0.1:{port}/healthz",
            ],
            env={**os.environ, "KUBECONFIG": str(kubeconfig)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            else:
                raise SystemExit("the operator did not report healthy within 60 s")
            status = Path(f"/proc/{process.pid}/status").read_text()
            return int(status.split("VmRSS:")[1].split()[0]) / 1024
        finally:
            process.terminate()
            process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30, help="reconciles per row (kmock slows as its history grows)")
    args = parser.parse_args()
    body = _server()
    render_cpu, render_wall = _measure(lambda _: render(copy.deepcopy(body)), args.rounds)
    receive, send = multiprocessing.get_context("fork").Pipe(duplex=False)
    emulator = multiprocessing.get_context("fork").Process(target=_emulator, args=(send,), daemon=True)
    emulator.start()
    try:
        url = receive.recv()
        (changed_cpu, changed_wall), (same_cpu, same_wall) = asyncio.run(_reconciles(url, args.rounds))
        operator_rss = _operator_rss(url)
    finally:
        emulator.terminate()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    target = 100.0
    print(f"{'step':<40}{'CPU ms (median)':>16}{'wall ms':>10}{'vs target 100 ms':>18}")
    for label, cpu, wall in (
        ("render (pure)", render_cpu, render_wall),
        ("reconcile, changed MCPServer", changed_cpu, changed_wall),
        ("reconcile, unchanged (drift check)", same_cpu, same_wall),
    ):
        print(f"{label:<40}{cpu:>16.2f}{wall:>10.2f}{cpu / target:>17.2%}")
    print(f"reconcile/render CPU ratio: {changed_cpu / render_cpu:.1f}x (wall time includes the emulator)")
    print(
        f"RSS: operator process `hivekeeper kube operator` {operator_rss:.0f} MB, "
        f"this benchmark's client side {rss_mb:.0f} MB (target 100 MB)"
    )


if __name__ == "__main__":
    main()

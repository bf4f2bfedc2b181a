"""The benchmarks' load generator: closed loop, one worker per client, each sending its next request as soon as
the previous one is answered, for a measured window after a warm-up.

    from _loadgen import run_load              # scripts put benchmarks/ on sys.path (they run with `python -P`)

    load = await run_load([client_1, client_2], seconds=4, deadline=10)   # clients: see ``Client``
    load.calls_per_s, load.p50_ms, load.p95_ms, load.p99_ms, load.wrong, load.errors, load.timeouts

Every request has a deadline: a target that stops answering costs each worker at most one deadline and shows
up as timeouts, instead of hanging the whole benchmark. Every answer is checked by the client that sent it:
only right answers count as calls (and in the latencies); wrong answers, failures (an exception) and
timeouts are counted apart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol


class Client(Protocol):
    """One client of the target, on its own connection."""

    async def call(self) -> bool:
        """Send one request; True when the answer is the one expected. Raises when the request fails. A call
        cut short by the deadline is cancelled: the client must then not reuse a half-read connection."""
        ...


@dataclass
class Load:
    concurrency: int
    deadline: float  # seconds each request was given
    calls: int  # answered right in the measured window
    seconds: float
    wrong: int
    errors: int
    timeouts: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    cpu_ms_per_call: float | None = None  # the target's CPU per call, when the caller can measure it
    first_error: str | None = None  # what the first failure said, so a broken run explains itself

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0

    @property
    def latency_ms(self) -> str:
        """``p50 / p95 / p99`` for tables, or why there is none."""
        if not self.calls:
            return f"timed out ×{self.timeouts}" if self.timeouts else "no right answer"
        return f"{self.p50_ms:.2f} / {self.p95_ms:.2f} / {self.p99_ms:.2f}"


def problems(loads: Sequence[Load]) -> str:
    """``wrong/errors/timeouts`` over a target's loads, for tables."""
    return "/".join(str(sum(getattr(load, kind) for load in loads)) for kind in ("wrong", "errors", "timeouts"))


def notes(target: str, loads: Sequence[Load]) -> list[str]:
    """One line per load that timed out or failed, saying how, to print under a table."""
    lines = []
    for load in loads:
        if load.timeouts:
            lines.append(
                f"{target}: {load.timeouts} request(s) at c={load.concurrency} got no answer within {load.deadline:g} s"
            )
        if load.first_error:
            lines.append(
                f"{target}: {load.errors} failed request(s) at c={load.concurrency}, first: {load.first_error}"
            )
    return lines


def quantile_ms(ordered: Sequence[float], q: float) -> float:
    """The ``q`` quantile of sorted latencies in seconds, in milliseconds (nearest rank)."""
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


async def run_load(
    clients: Sequence[Client],
    seconds: float,
    *,
    deadline: float = 10.0,
    warmup: float | None = None,
    cpu: Callable[[], float] | None = None,
) -> Load:
    """Drive ``clients`` concurrently for ``seconds`` after ``warmup`` (default: a quarter of the window, at most
    one second: connections, sessions, caches); ``cpu`` reads the target's CPU seconds so far."""
    latencies: list[float] = []
    counts = {"wrong": 0, "errors": 0, "timeouts": 0}
    first_error: list[str] = []
    recording = False
    stop_at = 0.0

    async def worker(client: Client) -> None:
        while not recording or time.monotonic() < stop_at:
            began = time.perf_counter()
            try:
                async with asyncio.timeout(deadline):
                    right = await client.call()
            except TimeoutError:
                counts["timeouts"] += recording
                continue
            except Exception as exc:  # any failure of the target or the transport is the run's data, not a crash
                counts["errors"] += recording
                if recording and not first_error:
                    first_error.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            elapsed = time.perf_counter() - began
            if not recording:
                continue
            if right:
                latencies.append(elapsed)
            else:
                counts["wrong"] += 1

    workers = [asyncio.create_task(worker(client)) for client in clients]
    try:
        await asyncio.sleep(min(1.0, seconds / 4) if warmup is None else warmup)
        recording, began = True, time.monotonic()
        cpu_before = cpu() if cpu else 0.0
        stop_at = began + seconds
        await asyncio.gather(*workers)  # each worker ends within one deadline of stop_at
        elapsed = time.monotonic() - began
        cpu_used = cpu() - cpu_before if cpu else None
    finally:
        for task in workers:
            task.cancel()
    latencies.sort()
    calls = len(latencies)
    return Load(
        concurrency=len(clients),
        deadline=deadline,
        calls=calls,
        seconds=elapsed,
        p50_ms=quantile_ms(latencies, 0.50),
        p95_ms=quantile_ms(latencies, 0.95),
        p99_ms=quantile_ms(latencies, 0.99),
        cpu_ms_per_call=cpu_used * 1000 / calls if cpu_used is not None and calls else None,
        first_error=first_error[0] if first_error else None,
        **counts,
    )

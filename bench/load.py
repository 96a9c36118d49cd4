"""What both benches share: running N jobs, C at a time, and their command-line options."""

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


async def pool(count: int, concurrency: int, job: Callable[[int], Awaitable[T]]) -> list[T]:
    """Run job(0) … job(count - 1), `concurrency` at a time; the results in completion order."""
    queue = iter(range(count))
    results: list[T] = []

    async def runner() -> None:
        for i in queue:
            results.append(await job(i))

    await asyncio.gather(*(runner() for _ in range(concurrency)))
    return results


@dataclass
class Timing:
    per_s: float
    p50_ms: float
    p99_ms: float


async def timed(count: int, concurrency: int, job: Callable[[int], Awaitable[object]]) -> Timing:
    """Run `job` as `pool` does, timing each call: the rate, and the latencies' p50 and p99."""
    latencies: list[float] = []

    async def timed_job(i: int) -> None:
        started = time.perf_counter()
        await job(i)
        latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await pool(count, concurrency, timed_job)
    per_s = count / (time.perf_counter() - started)
    quantiles = statistics.quantiles(latencies, n=100)
    return Timing(per_s, quantiles[49], quantiles[98])


def add_load_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dossiers", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--lookups", type=int, default=2000)

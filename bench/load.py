"""What both benches share: running N jobs, C at a time, and their command-line options."""

import argparse
import asyncio
from collections.abc import Awaitable, Callable
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


def add_load_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dossiers", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--lookups", type=int, default=2000)

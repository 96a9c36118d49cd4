"""Many open dossiers, most of them out of the worker's cache: fill a running stack
(`UPLOADS_PER_HOUR=1000000 make run`: every upload comes from this one client) with N
dossiers waiting at their first review step, then time status lookups and officials' actions
on dossiers picked at random among all of them. Prints one line:

    open=… lookups_per_s=… lookup_p50_ms=… lookup_p99_ms=… actions_per_s=… action_p99_ms=…
    worker_rss_mb=… recorded_share=… actions_unconfirmed=…

    .venv/bin/python bench/open_dossiers.py [--open 20000] [--concurrency 16]
        [--lookups 2000] [--actions 500]

The dossiers it made are listed in a state file (`.data/bench-open-dossiers.json`), so a second
run tops the stack up to N instead of starting again (delete the file with the stack's data).
Each action is the department head handing the step to one specialist or the other
(`reassign`): a real update, which the workflow must be in the worker's memory to take, and
which leaves the dossier open. `worker_rss_mb` is the resident memory of the worker processes
(`worker.py`) on this machine after the run; `recorded_share`, the lookups the read model
answered (the rest were the workflow's own answers); `actions_unconfirmed`, the actions the
API answered 503 because the engine did not confirm them within its budget.
"""

import argparse
import asyncio
import json
import random
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
from lifecycle import PROCEDURE, Bench, _json
from load import pool, timed

ROOT = Path(__file__).resolve().parent.parent
HEAD = "kt.head"
SPECIALISTS = ("kt.specialist", "kt.specialist2")
# Tokens live 30 minutes: log in again well before, while filling.
RELOGIN_SECONDS = 15 * 60


def worker_rss_mb() -> float:
    """The resident memory of the worker processes running on this machine."""
    total = 0
    for process in psutil.process_iter(["cmdline", "memory_info"]):
        cmdline = process.info["cmdline"] or []
        if any(part.endswith("worker.py") for part in cmdline):
            total += process.info["memory_info"].rss
    return total / 2**20


async def fill(
    bench: Bench, opened: list[list[str]], target: int, args: argparse.Namespace
) -> None:
    """Submit and accept dossiers until `target` are open, saving the list as it grows."""
    users = {"bpmc.desk_officer", HEAD}
    file_ids = []
    for _ in range(2):
        uploaded = await bench.http.post(
            "/api/v1/files", files={"file": ("a.pdf", b"%PDF-1.4 bench", "application/pdf")}
        )
        file_ids.append((await _json(uploaded, 201))["file_id"])
    logged_in = time.monotonic()
    started = time.monotonic()
    while len(opened) < target:
        if time.monotonic() - logged_in > RELOGIN_SECONDS:
            await bench.login(users)
            logged_in = time.monotonic()
        batch = min(args.batch, target - len(opened))
        made = await pool(batch, args.concurrency, lambda _: bench.submit(file_ids))
        opened.extend([code, key] for code, key in made)
        args.state.write_text(json.dumps(opened))
        rate = len(opened) / (time.monotonic() - started)
        # The worker's memory as N grows: its cache holds at most WORKFLOW_CACHE_SIZE of them.
        print(f"  {len(opened)} open ({rate:.1f}/s), worker {worker_rss_mb():.0f} MB", flush=True)


async def main(args: argparse.Namespace) -> None:
    opened: list[list[str]] = json.loads(args.state.read_text()) if args.state.exists() else []
    limits = httpx.Limits(max_connections=args.concurrency * 2)
    async with httpx.AsyncClient(base_url=args.url, timeout=60, limits=limits) as http:
        bench = Bench(http)
        await bench.login({"bpmc.desk_officer", HEAD})
        procedure = await _json(await http.get(f"/api/v1/procedures/{PROCEDURE}"))
        first_step = procedure["steps"][0]
        assert (first_step["department"], first_step["role"]) == ("KT", "specialist")
        if len(opened) < args.open:
            print(f"filling: {len(opened)} open, {args.open} wanted", flush=True)
            await fill(bench, opened, args.open, args)
        opened = opened[: args.open]
        sources: dict[str, int] = {}

        async def lookup(_: int) -> None:
            code, key = random.choice(opened)
            state: dict[str, Any] = await bench.status(code, key)
            sources[state["source"]] = sources.get(state["source"], 0) + 1

        unconfirmed = 0

        async def act(i: int) -> None:
            nonlocal unconfirmed
            code, _ = random.choice(opened)
            response = await http.post(
                f"/api/v1/dossiers/{code}/actions",
                json={"action": "reassign", "assignee": SPECIALISTS[i % 2]},
                headers=bench.headers[HEAD],
            )
            if response.status_code == 503:
                # The engine did not confirm the action within the API's budget: the official
                # is told to retry. Counted, and timed like the others.
                unconfirmed += 1
                return
            await _json(response)

        lookups = await timed(args.lookups, args.concurrency, lookup)
        actions = await timed(args.actions, args.concurrency, act)

    recorded = sources.get("recorded", 0) / sum(sources.values())
    print(
        f"open={len(opened)} lookups_per_s={lookups.per_s:.0f} "
        f"lookup_p50_ms={lookups.p50_ms:.0f} lookup_p99_ms={lookups.p99_ms:.0f} "
        f"actions_per_s={actions.per_s:.1f} action_p50_ms={actions.p50_ms:.0f} "
        f"action_p99_ms={actions.p99_ms:.0f} worker_rss_mb={worker_rss_mb():.0f} "
        f"recorded_share={recorded:.2f} actions_unconfirmed={unconfirmed}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://localhost:8000")
    parser.add_argument("--open", type=int, default=20_000, help="open dossiers wanted")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--actions", type=int, default=500)
    parser.add_argument("--batch", type=int, default=500, help="dossiers per saved batch")
    parser.add_argument("--state", type=Path, default=ROOT / ".data" / "bench-open-dossiers.json")
    asyncio.run(main(parser.parse_args()))

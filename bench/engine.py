"""Baseline for bench/lifecycle.py: the bare Temporal engine, with no database and no HTTP.
Prints one line:

    engine_lifecycles_per_s=… engine_query_per_s=… engine_query_p50_ms=… engine_query_p99_ms=…

    .venv/bin/python bench/engine.py [--dossiers 200] [--concurrency 16] [--lookups 2000]

It runs against the same Temporal server as the stack (`make run`, or `--address`), with its
own worker in process on a fresh task queue, using the default (sandboxed) workflow runner as
worker.py does. Each lifecycle makes the same Temporal calls as one in bench/lifecycle.py: a
start, four updates (accept, then approve three times), a signal (the payment) and the wait
for the result — but the workflow below only flips its state: no activities, no records. Then
M queries, C at a time, are timed on 50 workflows left waiting, as lifecycle.py times lookups.
The difference between the two benches is what motcua adds on top of the engine.
"""

import argparse
import asyncio
import time
import uuid
from dataclasses import dataclass

from load import add_load_options, pool, timed
from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

APPROVALS = 3  # the household-business procedure's three review steps


@dataclass
class BareState:
    stage: str
    approvals: int
    paid: bool


@workflow.defn
class BareDossierWorkflow:
    """A dossier's shape without its substance: accept, approve ×3, pay, done."""

    def __init__(self) -> None:
        self._stage = "submitted"
        self._approvals = 0
        self._paid = False

    @workflow.run
    async def run(self) -> BareState:
        await workflow.wait_condition(lambda: self._approvals == APPROVALS and self._paid)
        self._stage = "done"
        return self.state()

    @workflow.update
    def accept(self) -> BareState:
        self._stage = "in_review"
        return self.state()

    @workflow.update
    def approve(self) -> BareState:
        self._approvals += 1
        if self._approvals == APPROVALS:
            self._stage = "awaiting_payment"
        return self.state()

    @workflow.signal
    def pay(self) -> None:
        self._paid = True

    @workflow.query
    def state(self) -> BareState:
        return BareState(stage=self._stage, approvals=self._approvals, paid=self._paid)


async def main(args: argparse.Namespace) -> None:
    client = await Client.connect(args.address, namespace=args.namespace)
    task_queue = f"bench-engine-{uuid.uuid4().hex}"

    async def start(_: int) -> WorkflowHandle[BareDossierWorkflow, BareState]:
        handle = await client.start_workflow(
            BareDossierWorkflow.run, id=f"bench-{uuid.uuid4().hex}", task_queue=task_queue
        )
        await handle.execute_update(BareDossierWorkflow.accept)
        return handle

    async def lifecycle(i: int) -> None:
        handle = await start(i)
        for _ in range(APPROVALS):
            await handle.execute_update(BareDossierWorkflow.approve)
        await handle.signal(BareDossierWorkflow.pay)
        if (await handle.result()).stage != "done":
            raise RuntimeError(f"workflow {handle.id} did not finish")

    async with Worker(client, task_queue=task_queue, workflows=[BareDossierWorkflow]):
        started = time.perf_counter()
        await pool(args.dossiers, args.concurrency, lifecycle)
        lifecycles_per_s = args.dossiers / (time.perf_counter() - started)

        # Queries are of workflows in process (accepted, waiting for review).
        handles = await pool(50, args.concurrency, start)

        async def query(i: int) -> None:
            state = await handles[i % len(handles)].query(BareDossierWorkflow.state)
            if state.stage != "in_review":
                raise RuntimeError(f"unexpected state {state}")

        try:
            queries = await timed(args.lookups, args.concurrency, query)
        finally:
            await asyncio.gather(*(h.terminate(reason="bench done") for h in handles))

    print(
        f"engine_lifecycles_per_s={lifecycles_per_s:.1f} engine_query_per_s={queries.per_s:.0f} "
        f"engine_query_p50_ms={queries.p50_ms:.1f} engine_query_p99_ms={queries.p99_ms:.1f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--address", default="127.0.0.1:7233")
    parser.add_argument("--namespace", default="default")
    add_load_options(parser)
    asyncio.run(main(parser.parse_args()))

"""Where a workflow task ends must not change what a dossier does on replay (README, "Replay,
and workflow-task boundaries").

The fault test that stranded seven dossiers hit it by chance; here it is made on purpose. A
status lookup sent before the dossier's first workflow task has started is held by the server
and handed to the worker with that task; the worker answers it while the dossier's first write
runs. With writes as local activities (the code before `activity-writes`), a write that ends
while the lookup is being answered had its marker sent with the lookup's answer and its result
handed to the workflow in the next task: the history then cannot be replayed, and a worker
that replays every task (no cache) strands the dossier at its next action. Today's writes are
activities, whose results are history events: nothing depends on that timing.
"""

import asyncio
import time
from typing import Any

import httpx
from temporalio.worker import (
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)
from temporalio.worker._interceptor import HandleQueryInput

from tests.client import DESK, ApiClient
from tests.conftest import Stack
from tests.replaying import check_replays

HKD = "1.001612"  # household business: three review steps, paid online

# How long the worker takes to answer a lookup: longer than the dossier's first write.
QUERY_ANSWER_SECONDS = 0.3


class _SlowLookups(Interceptor):
    """A worker busy enough that answering a query takes a while."""

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        class SlowQuery(WorkflowInboundInterceptor):
            def handle_query(self, input: HandleQueryInput) -> Any:
                time.sleep(QUERY_ANSWER_SECONDS)
                return super().handle_query(input)

        return SlowQuery


async def test_a_lookup_answered_during_the_first_write_changes_nothing(
    stack: Stack, http: httpx.AsyncClient, demo_password: str
) -> None:
    api = ApiClient(http, demo_password)
    await stack.stop_worker()
    try:
        created = await api.submit(HKD)
        code, key = created["code"], created["lookup_key"]
        # The applicant looks at the dossier at once: the server holds the query until a
        # worker takes the dossier's first task, and hands both over together.
        lookup = asyncio.create_task(
            http.get(f"/api/v1/dossiers/{code}", headers={"X-Lookup-Key": key})
        )
        await asyncio.sleep(0.5)
        # Answering lookups slowly, and keeping no workflow in its cache: every task replays
        # the whole history, as after a restart.
        async with stack.other_worker(interceptors=[_SlowLookups()], max_cached_workflows=0):
            assert (await lookup).status_code == 200
            # Every task of this worker replays the history written so far: a history the
            # code cannot replay would leave these actions unanswered (503).
            for user, action in (
                (DESK, "accept"),
                ("kt.specialist", "approve"),
                ("kt.head", "approve"),
                ("ld.leader", "approve"),
            ):
                r = await api.act(code, user, action)
                assert r.status_code == 200, r.text
            r = await http.get(f"/api/v1/dossiers/{code}/payment", headers={"X-Lookup-Key": key})
            assert (await http.post(r.json()["pay_url"])).status_code == 200
            assert (await api.wait_for(code, key, "done"))["status_code"] == 10
    finally:
        stack.start_worker()
    await check_replays(stack.client, code, "lookup-during-first-write")

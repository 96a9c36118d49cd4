"""Kill the worker (SIGKILL) right after the payment gateway charged and before the activity
reported: after a restart the dossier completes, and the gateway holds one payment."""

import asyncio
import sys
from pathlib import Path

import httpx
from sqlalchemy import func, select
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from store.models import Payment, SandboxGatewayPayment
from tests.client import DESK, ApiClient
from tests.conftest import Stack, worker_process_env
from tests.replaying import check_replays

ROOT = Path(__file__).parent.parent


async def test_a_worker_killed_after_the_charge_charges_once(
    stack: Stack, http: httpx.AsyncClient, demo_password: str
) -> None:
    api = ApiClient(http, demo_password)
    settings = stack.settings
    await stack.stop_worker()
    env = worker_process_env(settings)
    doomed = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fault_worker", cwd=ROOT, env=env
    )
    try:
        await _polling(stack, doomed.pid)
        created = await api.submit("1.001612")  # full online: paid through the gateway
        code, key = created["code"], created["lookup_key"]
        await api.act(code, DESK, "accept")
        for user in ("kt.specialist", "kt.head"):
            assert (await api.act(code, user, "approve")).status_code == 200
        # The leader's approval asks the gateway for the fee: the worker dies there (the
        # action, left without an answer, is a 503).
        await api.act(code, "ld.leader", "approve")
        async with asyncio.timeout(60):
            assert await doomed.wait() == -9
    finally:
        if doomed.returncode is None:
            doomed.kill()
            await doomed.wait()
        stack.start_worker()

    # The activity's time runs out on the server, and the new worker runs it again.
    async with asyncio.timeout(90):
        while True:
            r = await api.http.get(
                f"/api/v1/dossiers/{code}/payment", headers={"X-Lookup-Key": key}
            )
            if r.status_code == 200:
                break
            await asyncio.sleep(0.5)
    await api.http.post(r.json()["pay_url"])
    state = await api.wait_for(code, key, "done")
    assert (state["status_code"], state["outcome"]) == (10, "approved")
    async with stack.sessionmaker() as session:
        charged = await session.scalar(
            select(func.count()).where(SandboxGatewayPayment.merchant_ref == code)
        )
        recorded = await session.scalar(select(func.count()).where(Payment.dossier_code == code))
    assert (charged, recorded) == (1, 1)
    # The history, with the activity's time running out and its second attempt, replays.
    await check_replays(stack.client, code, "worker-killed")


async def _polling(stack: Stack, pid: int) -> None:
    """Until the worker process `pid` polls the task queue: an action sent before it does
    could run out of its time budget (a 503) while the worker is still starting."""
    request = DescribeTaskQueueRequest(
        namespace=stack.client.namespace,
        task_queue=TaskQueue(name=stack.settings.temporal_task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    async with asyncio.timeout(60):
        while True:
            described = await stack.client.workflow_service.describe_task_queue(request)
            if any(p.identity.startswith(f"{pid}@") for p in described.pollers):
                return
            await asyncio.sleep(0.2)

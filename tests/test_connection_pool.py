"""A request does not hold a database connection while it waits on the engine: more actions
and lookups waiting at once than the pool has connections are each answered within the
engine's budget, not after the pool's own timeout as a "database unavailable"."""

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from api.main import create_app
from motcua.cli import DEMO_PASSWORD
from motcua.settings import Settings
from tests.client import DESK, ApiClient
from tests.conftest import Stack, free_port, serving

HKD = "1.001612"  # accepted by the desk, then a KT specialist's step
# The pool: one connection and one more (SQLAlchemy's overflow) for the whole API.
POOL_SIZE = 1
BUDGET_MS = 1500


@pytest.fixture
async def small_pool_api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An API of its own on the session's database and engine, with a tiny pool and a short
    budget for the engine's answers."""
    port = free_port()
    own = settings.model_copy(
        update={
            "api_port": port,
            "db_pool_size": POOL_SIZE,
            "action_budget_ms": BUDGET_MS,
            "query_budget_ms": BUDGET_MS,
        }
    )
    async with (
        serving(create_app(own), port),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http,
    ):
        yield http


async def test_requests_waiting_on_the_engine_leave_the_pool_free(
    api: ApiClient, stack: Stack, small_pool_api: httpx.AsyncClient
) -> None:
    created = await api.submit(HKD)
    code, key = created["code"], created["lookup_key"]
    assert (await api.act(code, DESK, "accept")).status_code == 200
    own = ApiClient(small_pool_api, DEMO_PASSWORD)
    headers = await own.as_official("kt.specialist")

    await stack.stop_worker()  # the engine takes the actions; no worker confirms them
    try:
        started = time.monotonic()
        actions = [
            small_pool_api.post(
                f"/api/v1/dossiers/{code}/actions",
                json={"action": "approve"},
                headers={**headers, "Idempotency-Key": f"pool-{code}-{i}"},
            )
            for i in range(4)
        ]
        async with asyncio.timeout(25):  # the pool's own timeout is 30 s
            answers = await asyncio.gather(*actions)
            # A lookup meanwhile: the actions waiting in the engine, the workflow asked.
            lookup = await small_pool_api.get(
                f"/api/v1/dossiers/{code}", headers={"X-Lookup-Key": key}
            )
        elapsed = time.monotonic() - started
    finally:
        stack.start_worker()
    details = [r.json()["detail"] for r in answers]
    assert [r.status_code for r in answers] == [503] * 4, details
    assert all("did not confirm" in d for d in details), details
    # Each waited out its budget, at the same time as the others: none queued for a connection
    # (which would take the pool's 30 s timeout); the margin is for a loaded machine.
    assert elapsed < 15, elapsed
    assert lookup.status_code == 200 and lookup.json()["source"] == "snapshot", lookup.text

"""Where a status lookup's answer comes from: the read model when the engine shows it holds the
workflow's own state ("recorded"), the workflow's query when it may not ("live"), the read
model as a last resort when the workflow cannot answer ("snapshot") — never a read model that
is behind the workflow passed off as current."""

import asyncio
from typing import Any

from sqlalchemy import update

from store.models import Dossier
from tests.client import DESK, ApiClient
from tests.conftest import Stack
from workflows import search_attributes as sa
from workflows.dossier import DossierWorkflow

PROCEDURE = "1.001612"


def _content(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k not in ("source", "as_of")}


async def _until_recorded(api: ApiClient, code: str, key: str) -> dict[str, Any]:
    """The first answer from the read model (the last transition's write may be in flight)."""
    return await api.status_until(code, key, lambda state: state["source"] == "recorded", 10)


async def test_a_settled_dossier_is_answered_from_the_read_model(
    api: ApiClient, stack: Stack
) -> None:
    created = await api.submit(PROCEDURE)
    code, key = created["code"], created["lookup_key"]
    assert (await api.act(code, DESK, "accept")).status_code == 200
    recorded = await _until_recorded(api, code, key)
    assert (recorded["stage"], recorded["current_step"]["key"]) == ("review", "tham_dinh")

    # The engine's record of the workflow says which transition is its latest.
    handle = stack.client.get_workflow_handle(code)
    described = await handle.describe()
    published = described.typed_search_attributes.get(sa.TRANSITION_SEQ)
    async with stack.sessionmaker() as session:
        row = await session.get_one(Dossier, code)
    assert published == row.last_seq

    # The read model one transition behind the workflow: the workflow answers, and it says the
    # same as the read model did.
    async with stack.sessionmaker.begin() as session:
        await session.execute(
            update(Dossier).where(Dossier.code == code).values(last_seq=Dossier.last_seq - 1)
        )
    live = await api.status(code, key)
    assert live["source"] == "live"
    assert _content(live) == _content(recorded)
    state = await handle.query(DossierWorkflow.state)
    assert [e.action for e in state.history] == [e["action"] for e in recorded["history"]]


async def test_a_transition_in_flight_is_never_answered_from_the_read_model(
    api: ApiClient, stack: Stack
) -> None:
    created = await api.submit(PROCEDURE)
    code, key = created["code"], created["lookup_key"]
    await _until_recorded(api, code, key)

    # No worker: the desk's acceptance is taken by the engine, but the workflow has not run it.
    # The read model still holds the dossier at intake, with the same transition number the
    # workflow last published; only the task in flight tells it is behind.
    await stack.stop_worker()
    try:
        accepting = asyncio.create_task(api.act(code, DESK, "accept"))
        handle = stack.client.get_workflow_handle(code)
        async with asyncio.timeout(10):
            while True:
                described = await handle.describe()
                if described.raw_description.HasField("pending_workflow_task"):
                    break
                await asyncio.sleep(0.05)
        state = await api.status(code, key)
        assert (state["source"], state["stage"]) == ("snapshot", "intake")
    finally:
        stack.start_worker()
    await accepting
    moved_on = await _until_recorded(api, code, key)
    assert moved_on["stage"] == "review"

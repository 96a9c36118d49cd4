"""Replay recorded histories through today's workflow code: a change that would break running
dossiers (non-determinism) fails here, not in production.

`tests/histories/` holds histories recorded by earlier versions of the code, as dossiers that
were running when a new version was deployed would have them; each run also records fresh
ones of the main paths and replays them. After a change of the workflow (made compatible with
`workflow.patched`), add the new version's histories beside the old ones:

    MOTCUA_RECORD_HISTORIES=v4 .venv/bin/pytest tests/test_replay.py

Recorded histories are never overwritten: an old one that stops replaying is a dossier that
the new code would break.
"""

import os
from pathlib import Path

import httpx
import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.client import DESK, ApiClient
from tests.conftest import Stack
from worker import WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"


def _replayer() -> Replayer:
    return Replayer(workflows=WORKFLOWS)


def _recorded() -> list[WorkflowHistory]:
    return [
        WorkflowHistory.from_json(path.stem, path.read_text())
        for path in sorted(HISTORIES.glob("*.json"))
    ]


@pytest.mark.parametrize("history", _recorded(), ids=lambda h: h.workflow_id)
async def test_recorded_history_replays(history: WorkflowHistory) -> None:
    await _replayer().replay_workflow(history)


async def _drive(api: ApiClient, scenario: str) -> str:
    """Take a dossier down one path; returns its code."""
    procedure = {"gateway": "1.001612", "desk": "1.009994"}.get(scenario, "1.001612")
    created = await api.submit(procedure)
    code, key = created["code"], created["lookup_key"]
    if scenario == "refused":
        await api.act(code, DESK, "refuse", note="Không thuộc thẩm quyền")
        return code
    await api.act(code, DESK, "accept")
    if scenario == "withdrawn":
        withdraw = f"/api/v1/dossiers/{code}/withdraw"
        await api.http.post(withdraw, json={"reason": "Rút"}, headers={"X-Lookup-Key": key})
        await api.act(code, DESK, "confirm_withdrawal")
        return code
    steps = (await api.procedure(procedure))["steps"]
    if scenario == "rejected":
        step = steps[0]
        await api.act(code, f"{step['department'].lower()}.{step['role']}", "reject", note="Sai")
        await api.wait_for(code, key, "done")
        return code
    for step in steps:
        await api.act(code, f"{step['department'].lower()}.{step['role']}", "approve")
    if scenario == "gateway":
        r = await api.http.get(f"/api/v1/dossiers/{code}/payment", headers={"X-Lookup-Key": key})
        await api.http.post(r.json()["pay_url"])
    else:
        await api.act(code, DESK, "confirm_payment")
        await api.wait_for(code, key, "delivery")
        await api.act(code, DESK, "deliver")
    await api.wait_for(code, key, "done")
    return code


@pytest.mark.parametrize("scenario", ["gateway", "desk", "refused", "rejected", "withdrawn"])
async def test_fresh_history_replays(
    scenario: str, stack: Stack, http: httpx.AsyncClient, demo_password: str
) -> None:
    code = await _drive(ApiClient(http, demo_password), scenario)
    history = await stack.client.get_workflow_handle(code).fetch_history()
    await _replayer().replay_workflow(history)
    version = os.environ.get("MOTCUA_RECORD_HISTORIES")
    if version:
        _save(HISTORIES / f"{scenario}-{version}.json", history)


def _save(path: Path, history: WorkflowHistory) -> None:
    if path.exists():
        raise FileExistsError(f"{path} is recorded already: name a new version")
    path.write_text(history.to_json())

"""Replay recorded histories through today's workflow code: a change that would break running
dossiers (non-determinism) fails here, not in production.

`tests/histories/` holds histories recorded by earlier versions of the code, as dossiers that
were running when a new version was deployed would have them; each run also records fresh
ones of the main paths and replays them. After a change of the workflow (made compatible with
`workflow.patched`), add the new version's histories beside the old ones:

    MOTCUA_RECORD_HISTORIES=v5 .venv/bin/pytest tests/test_replay.py

Recorded histories are never overwritten: an old one that stops replaying is a dossier that
the new code would break.
"""

import os
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from domain.calendar import CalendarSpec
from motcua.codec import data_converter
from motcua.settings import Settings
from tests.client import DESK, ApiClient
from tests.conftest import Stack
from worker import WORKFLOWS
from workflows.service_index_snapshot import (
    ServiceIndexSnapshotInput,
    ServiceIndexSnapshotWorkflow,
)

HISTORIES = Path(__file__).parent / "histories"
WORKING = CalendarSpec.for_period(datetime.now().year).calendar()


def _replayer() -> Replayer:
    # Histories recorded before payloads were encrypted replay through the same converter:
    # it leaves unencrypted payloads as they are.
    return Replayer(workflows=WORKFLOWS, data_converter=data_converter(Settings()))


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
    procedure = {"gateway": "1.001612", "desk": "1.009994", "consulted": "1.012778"}.get(
        scenario, "1.001612"
    )
    created = await api.submit(procedure)
    code, key = created["code"], created["lookup_key"]
    desk = "vpdk_mc.desk_officer" if scenario == "consulted" else DESK
    if scenario == "refused":
        await api.act(code, DESK, "refuse", note="Không thuộc thẩm quyền")
        return code
    if scenario == "supplemented":
        await api.act(code, DESK, "request_supplement", note="Thiếu", components=["HDTN"])
        document = {"component": "HDTN", "file_id": await api.upload()}
        await api.http.post(
            f"/api/v1/dossiers/{code}/supplement",
            json={"documents": [document]},
            headers={"X-Lookup-Key": key},
        )
    await api.act(code, desk, "accept")
    if scenario == "consulted":
        await api.act(code, "vpdk.specialist", "consult", note="Ý kiến?")
        for user in ("tnmt.specialist", "thue.specialist"):
            headers = await api.as_official(user)
            asked = (await api.http.get("/api/v1/consultations", headers=headers)).json()
            [consultation] = [c for c in asked if c["dossier_code"] == code]
            url = f"/api/v1/consultations/{consultation['id']}/answer"
            await api.http.post(url, json={"opinion": "Đồng ý"}, headers=headers)
        await api.wait_for_history(code, key, "consultation_answered", 2)
        await api.act(code, "vpdk.specialist", "reject", note="Không đủ điều kiện")
        await api.wait_for(code, key, "delivery")
        await api.act(code, desk, "deliver")
        await api.wait_for(code, key, "done")
        return code
    if scenario == "extended":
        due = datetime.fromisoformat((await api.status(code, key))["due_at"])
        later = due + timedelta(days=7)
        while not WORKING.is_office_time(later):
            later += timedelta(hours=1)
        await api.act(code, DESK, "extend", note="Chờ", new_due_at=later.isoformat())
        await api.act(code, "kt.head", "reassign", assignee="kt.specialist2")
        await api.act(code, "kt.specialist2", "reject", note="Sai")
        await api.wait_for(code, key, "done")
        return code
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
    if scenario in ("gateway", "supplemented"):  # full online: paid through the gateway
        r = await api.http.get(f"/api/v1/dossiers/{code}/payment", headers={"X-Lookup-Key": key})
        await api.http.post(r.json()["pay_url"])
    else:
        await api.act(code, DESK, "confirm_payment")
        await api.wait_for(code, key, "delivery")
        await api.act(code, DESK, "deliver")
    await api.wait_for(code, key, "done")
    return code


@pytest.mark.parametrize(
    "scenario",
    [
        "gateway",
        "desk",
        "refused",
        "rejected",
        "withdrawn",
        "supplemented",
        "consulted",
        "extended",
    ],
)
async def test_fresh_history_replays(
    scenario: str, stack: Stack, http: httpx.AsyncClient, demo_password: str
) -> None:
    code = await _drive(ApiClient(http, demo_password), scenario)
    recorded = {scenario: code}
    if scenario == "consulted":  # and the consultation's own workflow, a child
        recorded["consultation"] = f"{code}-consult-1-TNMT"
    for name, workflow_id in recorded.items():
        await _replay_and_record(stack, name, workflow_id)


async def test_snapshot_history_replays(stack: Stack) -> None:
    workflow_id = f"replay-snapshot-{datetime.now():%H%M%S%f}"
    await stack.client.execute_workflow(
        ServiceIndexSnapshotWorkflow.run,
        ServiceIndexSnapshotInput("2024-06-30"),  # a day no other test counts
        id=workflow_id,
        task_queue=stack.settings.temporal_task_queue,
    )
    await _replay_and_record(stack, "snapshot", workflow_id)


async def _replay_and_record(stack: Stack, name: str, workflow_id: str) -> None:
    history = await stack.client.get_workflow_handle(workflow_id).fetch_history()
    await _replayer().replay_workflow(history)
    version = os.environ.get("MOTCUA_RECORD_HISTORIES")
    if version:
        _save(HISTORIES / f"{name}-{version}.json", history)


def _save(path: Path, history: WorkflowHistory) -> None:
    if path.exists():
        raise FileExistsError(f"{path} is recorded already: name a new version")
    path.write_text(history.to_json())

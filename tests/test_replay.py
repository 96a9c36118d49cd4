"""Replay histories through today's workflow code: a change that would break running dossiers
(non-determinism) fails here, not in production.

`tests/histories/` holds histories recorded by earlier versions of the code, as dossiers that
were running when a new version was deployed would have them (file names end in the version
that recorded them); each run also records fresh ones of the main paths and replays them, and
the suite's last test replays every history the whole suite made. After a change of the
workflow, record the new version's histories beside the old ones (see the README):

    MOTCUA_RECORD_HISTORIES=v7 .venv/bin/pytest tests/test_replay.py tests/test_workflow_timers.py

Recorded histories are never overwritten: an old one that stops replaying is a dossier that
the new code would break.
"""

import json
from datetime import datetime, timedelta

import httpx
import pytest
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import PatchActivationInput

from domain.calendar import CalendarSpec
from tests.client import DESK, ApiClient, moved
from tests.conftest import Stack
from tests.replaying import (
    RECORDED,
    check_replays,
    event_kind,
    replay_failures,
    replayer_for,
    save_if_recording,
)
from tests.withdrawn_build import WITHDRAWN_BUILD
from worker import WORKFLOWS
from workflows.run_version import CURRENT
from workflows.service_index_snapshot import (
    ServiceIndexSnapshotInput,
    ServiceIndexSnapshotWorkflow,
)

WORKING = CalendarSpec.for_period(datetime.now().year).calendar()


def _recorded() -> list[WorkflowHistory]:
    return [
        WorkflowHistory.from_json(path.stem, path.read_text())
        for path in sorted(RECORDED.glob("*.json"))
    ]


@pytest.mark.parametrize("history", _recorded(), ids=lambda h: h.workflow_id)
async def test_recorded_history_replays(history: WorkflowHistory) -> None:
    await replayer_for(history).replay_workflow(history)


def _stranded() -> list[WorkflowHistory]:
    return [
        WorkflowHistory.from_json(path.stem, path.read_text())
        for path in sorted((RECORDED / "stranded").glob("*.json"))
    ]


@pytest.mark.parametrize("history", _stranded(), ids=lambda h: h.workflow_id)
async def test_a_history_split_by_the_sdk_is_recognised(history: WorkflowHistory) -> None:
    """Seven dossiers of a fault test (tests/histories/stranded, README: "Replay and
    workflow-task boundaries") were written by the code from before `activity-writes`, by a
    worker that completed the first task with the first local activity's marker and ran on
    from its result in the next: `step-reminders`' marker opens the second task. No code can
    replay them (the SDK answers the patch False before it knows the second task, and runs no
    workflow code on the patch's notice alone); a reset to the first task brings such a
    dossier back. Should an SDK replay them one day, this fails: move them to the others."""
    first_task, second_task = _commands_by_task(history)[:2]
    assert first_task == ["upsert_workflow_search_attributes", "marker:core_local_activity"]
    assert second_task[0] == "marker:core_patch"
    with pytest.raises(Exception, match="patch marker encountered for change step-reminders"):
        await replayer_for(history).replay_workflow(history)


def _patches(history: WorkflowHistory) -> set[str]:
    """The patches a history recorded."""
    return {
        json.loads(marker.details["patch-data"].payloads[0].data)["id"]
        for event in history.events
        if (marker := event.marker_recorded_event_attributes).marker_name == "core_patch"
    }


def _commands_by_task(history: WorkflowHistory) -> list[list[str]]:
    """The events each completed workflow task wrote, in order."""
    tasks: list[list[str]] = []
    for event in history.events:
        name = event_kind(event)
        if name == "workflow_task_completed":
            tasks.append([])
        elif tasks and not name.startswith("workflow_task_"):
            if name == "marker_recorded":
                name = f"marker:{event.marker_recorded_event_attributes.marker_name}"
            tasks[-1].append(name)
    return tasks


async def _drive(api: ApiClient, scenario: str) -> str:
    """Take a dossier down one path, checking each answer; returns its code."""
    procedure = {"gateway": "1.001612", "desk": "1.009994", "consulted": "1.012778"}.get(
        scenario, "1.001612"
    )
    created = await api.submit(procedure)
    code, key = created["code"], created["lookup_key"]
    applicant = {"X-Lookup-Key": key}
    desk = "vpdk_mc.desk_officer" if scenario == "consulted" else DESK
    if scenario == "refused":
        moved(await api.act(code, DESK, "refuse", note="Không thuộc thẩm quyền"), "done")
        return code
    if scenario == "supplemented":
        asked = await api.act(code, DESK, "request_supplement", note="Thiếu", components=["HDTN"])
        moved(asked, "intake", "supplement")
        document = {"component": "HDTN", "file_id": await api.upload()}
        r = await api.http.post(
            f"/api/v1/dossiers/{code}/supplement", json={"documents": [document]}, headers=applicant
        )
        moved(r, "intake", "intake")
    steps = (await api.procedure(procedure))["steps"]
    moved(await api.act(code, desk, "accept"), "review", steps[0]["key"])
    if scenario == "consulted":
        moved(await api.act(code, "vpdk.specialist", "consult", note="Ý kiến?"), "review")
        for user in ("tnmt.specialist", "thue.specialist"):
            r = await api.answer_consultation(code, user)
            assert r.status_code == 200, r.text
        await api.wait_for_history(code, key, "consultation_answered", 2)
        rejected = await api.act(code, "vpdk.specialist", "reject", note="Không đủ điều kiện")
        moved(rejected, "delivery")
        moved(await api.act(code, desk, "deliver"), "done")
        return code
    if scenario == "extended":
        due = datetime.fromisoformat((await api.status(code, key))["due_at"])
        later = due + timedelta(days=7)
        while not WORKING.is_office_time(later):
            later += timedelta(hours=1)
        extended = await api.act(code, DESK, "extend", note="Chờ", new_due_at=later.isoformat())
        moved(extended, "review", steps[0]["key"])
        assert datetime.fromisoformat((await api.status(code, key))["due_at"]) == later
        reassigned = await api.act(code, "kt.head", "reassign", assignee="kt.specialist2")
        moved(reassigned, "review", steps[0]["key"])
        moved(await api.act(code, "kt.specialist2", "reject", note="Sai"), "done")
        return code
    if scenario == "withdrawn":
        withdraw = f"/api/v1/dossiers/{code}/withdraw"
        r = await api.http.post(withdraw, json={"reason": "Rút"}, headers=applicant)
        moved(r, "review", "withdrawal")
        moved(await api.act(code, DESK, "confirm_withdrawal"), "done")
        return code
    if scenario == "rejected":
        step = steps[0]
        official = f"{step['department'].lower()}.{step['role']}"
        moved(await api.act(code, official, "reject", note="Sai"), "done")
        return code
    for step, following in zip(steps, [*steps[1:], None], strict=True):
        approved = await api.act(code, f"{step['department'].lower()}.{step['role']}", "approve")
        moved(approved, "review" if following else "payment", following and following["key"])
    if scenario in ("gateway", "supplemented"):  # full online: paid through the gateway
        r = await api.http.get(f"/api/v1/dossiers/{code}/payment", headers=applicant)
        assert r.status_code == 200, r.text
        assert (await api.http.post(r.json()["pay_url"])).status_code == 200
    else:
        moved(await api.act(code, DESK, "confirm_payment"), "delivery")
        moved(await api.act(code, DESK, "deliver"), "done")
    assert (await api.wait_for(code, key, "done"))["status_code"] == 10
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
    await check_replays(stack.client, code, scenario)


async def test_snapshot_history_replays(stack: Stack) -> None:
    workflow_id = f"replay-snapshot-{datetime.now():%H%M%S%f}"
    await stack.client.execute_workflow(
        ServiceIndexSnapshotWorkflow.run,
        ServiceIndexSnapshotInput("2024-06-30"),  # a day no other test counts
        id=workflow_id,
        task_queue=stack.settings.temporal_task_queue,
    )
    history = await stack.client.get_workflow_handle(workflow_id).fetch_history()
    await replayer_for(history).replay_workflow(history)
    save_if_recording("snapshot", history)


def _released_before_the_fix(input: PatchActivationInput) -> bool:
    """A worker of the code before `activity-writes`: every patch it knew is on for the runs
    it starts, that one is not (a patch left off records no marker: the run is legacy)."""
    return input.patch_id != CURRENT


async def test_a_dossier_started_before_the_fix_finishes_after_it(
    stack: Stack, http: httpx.AsyncClient, demo_password: str
) -> None:
    """Started by a worker of the earlier release (writes as local activities, its patches),
    taken on by today's worker after a deployment, through supplement, approvals and the
    gateway's payment to the end; the whole history then replays."""
    api = ApiClient(http, demo_password)
    await stack.stop_worker()
    try:
        async with stack.other_worker(patch_activation_callback=_released_before_the_fix):
            created = await api.submit("1.001612")
            code, key = created["code"], created["lookup_key"]
            moved(await api.act(code, DESK, "accept"), "review", "tham_dinh")
            asked = await api.act(
                code, "kt.specialist", "request_supplement", note="Thiếu", components=["HDTN"]
            )
            moved(asked, "review", "supplement")
    finally:
        stack.start_worker()  # today's code
    history = await stack.client.get_workflow_handle(code).fetch_history()
    markers = [e.marker_recorded_event_attributes.marker_name for e in history.events]
    assert "core_local_activity" in markers  # it was a legacy run
    document = {"component": "HDTN", "file_id": await api.upload()}
    r = await api.http.post(
        f"/api/v1/dossiers/{code}/supplement",
        json={"documents": [document]},
        headers={"X-Lookup-Key": key},
    )
    moved(r, "review", "tham_dinh")
    moved(await api.act(code, "kt.specialist", "approve"), "review", "truong_phong")
    moved(await api.act(code, "kt.head", "approve"), "review", "phe_duyet")
    moved(await api.act(code, "ld.leader", "approve"), "payment")
    r = await api.http.get(f"/api/v1/dossiers/{code}/payment", headers={"X-Lookup-Key": key})
    assert (await api.http.post(r.json()["pay_url"])).status_code == 200
    assert (await api.wait_for(code, key, "done"))["status_code"] == 10
    await check_replays(stack.client, code, "legacy-continued")


@pytest.mark.after_everything
async def test_every_history_the_suite_made_replays(temporal_env: WorkflowEnvironment) -> None:
    """Every workflow the suite ran on the dev server, finished or not, replays through today's
    code, whatever its path, its concurrent updates, fired timers, failed tasks or killed
    workers did to its history (conftest.py runs this test last)."""
    client = temporal_env.client
    # Ours, not the workflows a test defines for itself (e.g. test_worker_outage.py's).
    ours = ", ".join(f"'{w.__name__}'" for w in WORKFLOWS)
    histories = [
        await client.get_workflow_handle(run.id, run_id=run.run_id).fetch_history()
        async for run in client.list_workflows(f"WorkflowType IN ({ours})")
    ]
    # But the runs of the build that was withdrawn (test_stuck_dossier.py): by design.
    histories = [h for h in histories if WITHDRAWN_BUILD not in _patches(h)]
    assert histories, "the suite ran no workflow: run this test with the others"
    assert await replay_failures(histories) == {}

"""The Decision 766 service index over a hand-built month of 30 dossiers (March 2025, so no
other test's dossiers fall in it): every figure against its hand-counted numerator and
denominator.

Group, count, channel, applicant; received → due; end of processing; fee; result; notes:
- A ×10, online, individual; 3/3 9:00 → 10/3 17:00; result issued 7/3 10:00 (on time);
  100k paid online; returned online; 3 dissatisfied, 5 satisfied.
- B ×6, counter, organization; 4/3 9:00 → 6/3 17:00; issued 8/3 9:00 (late); 75k paid at the
  desk; returned at the counter 9/3; 1 dissatisfied.
- C ×4, post, individual; 5/3 9:00 → 20/3 17:00; returned 12/3 9:00; no fee; two supplement
  requests (late).
- D ×5, online, individual; 20/3 9:00 → 10/4 17:00; still open, judged at 1/4 (on time).
- E ×3, online, organization; 25/3 9:00 → 28/3 17:00; still open, judged at 1/4 (late).
- F ×2, counter, individual; 10/3 9:00 → 12/3 17:00; refused at intake 10/3 10:00; 2k unpaid.
A and B passed through department KT, the others through TPHT.
Two more dossiers fall just outside the month and count for nothing.
"""

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    ScheduleActionExecutionStartWorkflow,
    WorkflowFailureError,
    WorkflowHandle,
)

from activities.statistics_activities import SnapshotResult
from domain.calendar import VN_TZ
from motcua.schedules import SNAPSHOT_SCHEDULE_ID, ensure_schedules
from motcua.settings import Settings
from store.db import Sessionmaker
from tests.client import ApiClient
from tests.conftest import Stack
from tests.stats_data import counted_dossier
from workflows.service_index_snapshot import (
    ServiceIndexSnapshotInput,
    ServiceIndexSnapshotWorkflow,
)


def _at(day: int, hour: int, month: int = 3) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=VN_TZ)


@pytest.fixture(scope="module")
async def march(sessionmaker: Sessionmaker, settings: Settings) -> None:
    async def many(n: int, ratings: Sequence[str] = (), **spec: Any) -> None:
        for i in range(n):
            rating = ratings[i] if i < len(ratings) else None
            await counted_dossier(sessionmaker, settings, rating=rating, **spec)

    a_ratings = ["dissatisfied"] * 3 + ["satisfied"] * 5
    await many(10, a_ratings, channel="online", kind="individual", received=_at(3, 9),
               due=_at(10, 17), status=10, issued=_at(7, 10), finished=_at(7, 10),
               fee=100_000, paid_via="gateway", department="KT")  # fmt: skip
    await many(6, ["dissatisfied"], channel="counter", kind="organization", received=_at(4, 9),
               due=_at(6, 17), status=10, issued=_at(8, 9), finished=_at(9, 9), fee=75_000,
               paid_via="desk:bpmc.desk_officer", delivery="counter", department="KT")  # fmt: skip
    await many(4, channel="post", kind="individual", received=_at(5, 9), due=_at(20, 17),
               status=10, finished=_at(12, 9), delivery="post", supplements=2)  # fmt: skip
    await many(5, channel="online", kind="individual", received=_at(20, 9),
               due=_at(10, 17, month=4))  # fmt: skip
    await many(3, channel="online", kind="organization", received=_at(25, 9), due=_at(28, 17))
    await many(2, channel="counter", kind="individual", received=_at(10, 9), due=_at(12, 17),
               status=3, finished=_at(10, 10), fee=2_000)  # fmt: skip
    for outside in (datetime(2025, 2, 28, 23, 59, tzinfo=VN_TZ), _at(1, 0, month=4)):
        await counted_dossier(sessionmaker, settings, channel="online", kind="individual",
                              received=outside, due=_at(20, 17))  # fmt: skip


async def _index(api: ApiClient, query: str, user: str = "ld.leader") -> httpx.Response:
    headers = await api.as_official(user)
    return await api.http.get(f"/api/v1/stats?from=2025-03-01&to=2025-03-31{query}",
                              headers=headers)  # fmt: skip


def _figure(numerator: float, denominator: int) -> dict[str, Any]:
    return {"numerator": numerator, "denominator": denominator,
            "rate": round(numerator / denominator, 4)}  # fmt: skip


async def test_every_figure_matches_the_hand_count(
    march: None, http: httpx.AsyncClient, demo_password: str
) -> None:
    api = ApiClient(http, demo_password)
    r = await _index(api, "&agency=000.00.15.H39")
    assert r.status_code == 200, r.text
    _assert_the_hand_count(r.json())


def _assert_the_hand_count(index: dict[str, Any]) -> None:
    assert index["received"] == {"total": 30, "online": 18, "counter": 8, "post": 4,
                                 "individual": 21, "organization": 9}  # fmt: skip
    assert (index["finished"], index["in_process"]) == (22, 8)
    # Late: B (past the appointment), C (two supplement requests), E (open past it): 13.
    assert index["on_time"] == _figure(17, 30)
    # Days to the end of processing: A 10 × 4 1/24, B 6 × 4, C 4 × 7, F 2 × 1/24 = 92.5.
    assert index["average_processing_days"] == _figure(92.5, 22)
    assert index["online"] == _figure(18, 30)
    assert index["online_payment"] == _figure(10, 18)
    assert index["electronic_result"] == _figure(10, 20)
    assert index["satisfaction"] == _figure(30 - 13 - 4, 30)


async def test_filters_csv_and_who_may_see(
    march: None, http: httpx.AsyncClient, demo_password: str
) -> None:
    api = ApiClient(http, demo_password)
    by_department = (await _index(api, "&department=KT")).json()
    assert by_department["received"]["total"] == 16  # A and B passed through KT
    assert by_department["on_time"] == _figure(10, 16)
    csv = (await _index(api, "&agency=000.00.15.H39&format=csv", "ops.operator")).text
    assert csv.splitlines()[0] == "figure,numerator,denominator,rate"
    assert "online_payment,10,18,0.5556" in csv.splitlines()
    assert (await _index(api, "", "kt.specialist")).status_code == 403
    r = await api.http.get("/api/v1/stats?from=2025-03-31&to=2025-03-01",
                           headers=await api.as_official("ld.leader"))  # fmt: skip
    assert r.status_code == 422


async def test_the_breakdown_ranks_by_online_rate_lowest_first(
    march: None, http: httpx.AsyncClient, demo_password: str
) -> None:
    api = ApiClient(http, demo_password)
    headers = await api.as_official("ld.leader")
    url = "/api/v1/stats/breakdown?from=2025-03-01&to=2025-03-31&agency=000.00.15.H39"
    by_department = (await api.http.get(f"{url}&by=department", headers=headers)).json()
    # TPHT: C, D, E, F (14; online D and E, 8; late C and E, 7). KT: A and B (16; 10; 6).
    assert by_department == [
        {"key": "TPHT", "received": 14, "online": _figure(8, 14), "on_time": _figure(7, 14)},
        {"key": "KT", "received": 16, "online": _figure(10, 16), "on_time": _figure(10, 16)},
    ]
    by_procedure = (await api.http.get(f"{url}&by=procedure", headers=headers)).json()
    assert by_procedure == [
        {"key": "1.001612", "received": 30, "online": _figure(18, 30), "on_time": _figure(17, 30)}
    ]


async def test_the_nightly_snapshot_keeps_the_month_once(
    march: None, stack: Stack, http: httpx.AsyncClient, demo_password: str
) -> None:
    async def snapshot(day: str = "2025-03-31") -> SnapshotResult:
        return await stack.client.execute_workflow(
            ServiceIndexSnapshotWorkflow.run,
            ServiceIndexSnapshotInput(day),
            id=f"test-snapshot-{uuid.uuid4().hex[:8]}",
            task_queue=stack.settings.temporal_task_queue,
        )

    await _todays_snapshot_is_refused(stack)
    first = await snapshot()
    # The catalog's two agencies (one with no dossiers: kept as zeros), the procedure, and
    # the two departments dossiers passed through.
    assert (first.groups, first.written) == (5, 5)
    again = await snapshot()
    assert (again.groups, again.written) == (5, 0)  # the first snapshot of a day stands

    api = ApiClient(http, demo_password)
    headers = await api.as_official("ld.leader")
    url = "/api/v1/stats/snapshots?from=2025-03-01&to=2025-04-30"
    [kept] = (await api.http.get(f"{url}&scope=agency&key=000.00.15.H39", headers=headers)).json()
    assert kept["day"] == "2025-03-31"
    assert kept["name"].startswith("UBND xã Mỹ Yên")
    assert (kept["index"]["period_from"], kept["index"]["period_to"]) == (
        "2025-03-01",
        "2025-03-31",
    )
    _assert_the_hand_count(kept["index"])
    [kt] = (await api.http.get(f"{url}&scope=department&key=KT", headers=headers)).json()
    assert kt["index"]["on_time"] == _figure(10, 16)
    r = await api.http.get(f"{url}&scope=department&key=KT",
                           headers=await api.as_official("kt.specialist"))  # fmt: skip
    assert r.status_code == 403
    r = await api.http.get(f"{url}&scope=street&key=KT", headers=headers)
    assert r.status_code == 422
    land_office = f"{url}&scope=agency&key=000.00.20.H39"
    assert (await api.http.get(land_office, headers=headers)).status_code == 403  # not theirs
    operator = await api.as_official("ops.operator")
    [land] = (await api.http.get(land_office, headers=operator)).json()
    assert land["index"]["received"]["total"] == 0
    far = "/api/v1/stats/snapshots?from=9999-12-01&to=9999-12-31&scope=agency&key=x"
    r = await api.http.get(far, headers=headers)
    assert r.status_code == 422 and "2099-12-31" in r.text


async def _todays_snapshot_is_refused(stack: Stack) -> None:
    """A day not yet over is not kept. Today is the workflow's: around midnight the day the
    test names may have ended by the time the workflow reads its clock (it is then rightly
    kept), and the new day is tried."""
    for _ in range(3):
        today = datetime.now(VN_TZ).date()
        handle = await stack.client.start_workflow(
            ServiceIndexSnapshotWorkflow.run,
            ServiceIndexSnapshotInput(today.isoformat()),
            id=f"test-snapshot-{uuid.uuid4().hex[:8]}",
            task_queue=stack.settings.temporal_task_queue,
        )
        try:
            await handle.result()
        except WorkflowFailureError as refused:
            assert "has not ended yet" in str(refused.cause)
            assert await _workflow_day(handle) == today
            return
        assert await _workflow_day(handle) > today, f"{today} was kept before it ended"
    pytest.fail("the day changed at every attempt")


async def _workflow_day(handle: WorkflowHandle[Any, Any]) -> date:
    """The Vietnam day of the workflow's `workflow.now()` in its first workflow task: the time
    that task started (of the attempt that completed)."""
    events = [event async for event in handle.fetch_history_events()]
    completed = next(
        e.workflow_task_completed_event_attributes
        for e in events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    )
    [started] = [e for e in events if e.event_id == completed.started_event_id]
    return started.event_time.ToDatetime(tzinfo=UTC).astimezone(VN_TZ).date()


async def test_the_schedule_takes_yesterday(stack: Stack) -> None:
    """The worker creates the nightly schedule at start; triggered now, it keeps yesterday."""
    await ensure_schedules(stack.client, stack.settings.temporal_task_queue)
    schedule = stack.client.get_schedule_handle(SNAPSHOT_SCHEDULE_ID)
    try:
        await schedule.pause(note="an operator's pause")
        await ensure_schedules(stack.client, stack.settings.temporal_task_queue)  # a restart
        assert (await schedule.describe()).schedule.state.paused  # kept
        await schedule.unpause()
        # (Within a second of clocks, the server's and ours, on one machine.)
        triggered_at = datetime.now(UTC) - timedelta(seconds=1)
        await schedule.trigger()
        for _ in range(100):
            actions = [
                action
                for action in (await schedule.describe()).info.recent_actions
                if action.scheduled_at >= triggered_at  # not a nightly run meanwhile
            ]
            if actions:
                break
            await asyncio.sleep(0.1)
        taken = min(actions, key=lambda action: action.scheduled_at)
        assert taken.scheduled_at <= datetime.now(UTC)
        started = taken.action
        assert isinstance(started, ScheduleActionExecutionStartWorkflow)
        result = await stack.client.get_workflow_handle(
            started.workflow_id, result_type=SnapshotResult
        ).result()
        # The day before the one it was scheduled in (the workflow reads that time, to the
        # second, from TemporalScheduledStartTime), not before the day it ended in, which may
        # be the next around midnight.
        yesterday = taken.scheduled_at.astimezone(VN_TZ).date() - timedelta(days=1)
        assert result.day == yesterday.isoformat()
    finally:
        await schedule.delete()

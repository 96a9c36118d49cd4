"""The workflow on the time-skipping test server: days pass in milliseconds, the activities
are the real ones against the real database."""

import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from domain.calendar import VN_TZ, CalendarSpec, WorkingCalendar
from domain.catalog import load_catalog
from domain.dossier import Actor, DossierState
from motcua.settings import Settings
from store.db import Sessionmaker
from store.models import Consultation, Document, Dossier, OfficialAlertRow, SlipEntryRow
from tests.conftest import insert_dossier
from tests.replaying import check_replays
from worker import build_worker
from workflows.consultation import ConsultationWorkflow
from workflows.dossier import DossierWorkflow
from workflows.messages import (
    ActionRequest,
    ConsultationAnswer,
    DossierInput,
    DossierOutcome,
    SupplementSubmission,
    SuppliedComponent,
    WithdrawalRequest,
)

BIRTH = "1.001193"  # no fee, online result, 1 day: TPHT specialist (4 h), LD leader (2 h)
HKD = "1.001612"  # fee online, 3 days: KT specialist (12 h), KT head (4 h), LD leader (4 h)
PERMIT = "1.009994"  # 15 working days: KTHT specialist (64 h), KTHT head (24 h), LD (16 h)
LAND = "1.012778"  # 30 days; its first step (VPDK) consults TNMT and THUE, 16 h each

DESK = Actor("desk", "BPMC", "desk_officer")


@dataclass
class Run:
    """A dossier's workflow on the test server, with a worker of its own task queue."""

    env: WorkflowEnvironment
    handle: WorkflowHandle[DossierWorkflow, DossierOutcome]
    input: DossierInput
    calendar: WorkingCalendar

    async def act(self, actor: Actor, action: str, **fields: Any) -> None:
        request = ActionRequest(action, actor, **fields)
        await self.handle.execute_update(DossierWorkflow.act, request)

    async def state(self) -> DossierState:
        return await self.handle.query(DossierWorkflow.state)

    async def sleep_until(self, moment: datetime) -> None:
        now = await self.env.get_current_time()
        await self.env.sleep(max(moment - now, timedelta(0)))


@asynccontextmanager
async def _dossier(
    env: WorkflowEnvironment,
    sessionmaker: Sessionmaker,
    settings: Settings,
    procedure: str,
    received_at: datetime | None = None,
    *,
    name: str,
) -> AsyncIterator[Run]:
    """A dossier row as the API writes it, and its workflow started as the API starts it.
    Once the test's body passed, its history (fired timers and all) and its children's replay
    through today's code, and are kept as `<name>-<version>` when recording."""
    snapshot = load_catalog(settings.catalog_path).snapshot(procedure)
    received_at = received_at or await env.get_current_time()
    spec = CalendarSpec.for_period(received_at.year - 1)
    calendar = spec.calendar()
    due_at = calendar.add_working_days(received_at, snapshot.processing_days)
    code = await insert_dossier(sessionmaker, snapshot, received_at, due_at)
    input = DossierInput(
        code, snapshot, "online", "individual", "online", received_at, due_at, spec
    )
    task_queue = f"timers-{uuid.uuid4().hex[:8]}"
    async with build_worker(env.client, sessionmaker, settings, task_queue=task_queue):
        handle = await env.client.start_workflow(
            DossierWorkflow.run, input, id=code, task_queue=task_queue
        )
        try:
            yield Run(env, handle, input, calendar)
            await check_replays(env.client, code, name)
        finally:
            # A dossier left running would hold the shared server's clock: its timers would
            # fire for a worker that is gone.
            with contextlib.suppress(RPCError):  # (finished already)
                await handle.terminate("test over")


def _at(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=VN_TZ)


async def _alerts(sessionmaker: Sessionmaker, code: str) -> list[tuple[str, str, str]]:
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(OfficialAlertRow)
            .where(OfficialAlertRow.dossier_code == code)
            .order_by(OfficialAlertRow.id)
        )
        return [(a.kind, a.department, a.role) for a in rows]


async def test_fifteen_working_days_from_a_friday_evening_before_tet(
    time_skipping: WorkflowEnvironment, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    """Received on Friday 29 January 2027 at 19:00, after office hours, the week before Tết.
    By hand: the count starts on Monday 1 February at 07:30. Working days 1–3 are 1–3
    February; 4–10 February are Tết (the `holidays` package: 29 Tết to the 5th day, Thursday
    to Wednesday); days 4–5 are 11–12 February, 6–10 are 15–19, 11–15 are 22–26. The
    appointment is Friday 26 February 2027 at 17:00. The desk's own 8 hours end on Monday 1
    February at 17:00, and its reminder (6 hours) falls at 15:00 that day."""
    received = _at(2027, 1, 29, 19, 0)
    async with _dossier(
        time_skipping, sessionmaker, settings, PERMIT, received, name="tet-appointment"
    ) as run:
        state = await run.state()
        assert state.due_at == _at(2027, 2, 26, 17, 0)
        task = state.current_task
        assert task is not None and task.step_key == "intake"
        assert (task.due_at, task.remind_at) == (_at(2027, 2, 1, 17, 0), _at(2027, 2, 1, 15, 0))

        # The review step's allotment counts from the acceptance, on the same calendar.
        await run.act(DESK, "accept")
        task = (await run.state()).current_task
        assert task is not None and task.step_key == "kiem_tra_hien_truong"
        assert task.due_at == run.calendar.add_working_hours(task.started_at, 64)
    async with sessionmaker() as session:
        row = await session.get_one(Dossier, run.input.code)
        assert row.due_at == _at(2027, 2, 26, 17, 0)


async def test_a_supplement_stops_the_clock_for_five_days(
    time_skipping: WorkflowEnvironment, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    async with _dossier(
        time_skipping, sessionmaker, settings, PERMIT, name="supplement-clock-stopped"
    ) as run:
        await run.act(DESK, "accept")
        specialist = Actor("ktht", "KTHT", "specialist")
        await run.act(specialist, "request_supplement", note="Thiếu bản vẽ", components=["BVTK"])
        before = await run.state()
        paused = before.current_task
        assert before.status_code == 5 and paused is not None and paused.role == "applicant"

        await time_skipping.sleep(timedelta(days=5))
        state = await run.state()
        assert (state.status_code, state.due_at) == (5, before.due_at)  # nothing moved, yet
        submission = SupplementSubmission([SuppliedComponent("BVTK", str(uuid.uuid4()))])
        await run.handle.execute_update(DossierWorkflow.supplement, submission)
        after = await run.state()

    resumed = after.history[-1]
    assert resumed.action == "supplemented"
    stopped = run.calendar.working_time_between(paused.started_at, resumed.at)
    assert stopped >= timedelta(hours=16)  # five calendar days hold two working days at least
    assert after.supplement_hours == stopped.total_seconds() / 3600
    # The dossier still has its 15 working days, not counting the time it stood still.
    used = run.calendar.working_time_between(run.input.received_at, after.due_at)
    assert used == timedelta(hours=15 * 8) + stopped
    # And the step its 64 hours.
    step = after.current_task
    assert step is not None and (step.step_key, after.status_code) == ("kiem_tra_hien_truong", 4)
    assert step.due_at is not None
    assert run.calendar.working_time_between(step.started_at, step.due_at) == (
        timedelta(hours=64) + stopped
    )
    async with sessionmaker() as session:
        row = await session.get_one(Dossier, run.input.code)
        assert (row.supplement_requests, row.due_at) == (1, after.due_at)
        assert row.supplement_hours == after.supplement_hours


async def test_a_late_step_is_reminded_escalated_and_the_desk_apologises(
    time_skipping: WorkflowEnvironment, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    async with _dossier(time_skipping, sessionmaker, settings, BIRTH, name="late-step") as run:
        code = run.input.code
        await run.act(DESK, "accept")
        step = (await run.state()).current_task
        assert step is not None and step.due_at is not None and step.remind_at is not None
        assert run.calendar.working_time_between(step.started_at, step.remind_at) == timedelta(
            hours=3
        )

        # Nobody acts on the 4-hour civil-status step: reminded at 3 hours, late at 4.
        await run.sleep_until(step.remind_at + timedelta(minutes=1))
        assert (await run.state()).history[-1].action == "step_reminded"
        assert await _alerts(sessionmaker, code) == [("reminder", "TPHT", "specialist")]
        await run.sleep_until(step.due_at + timedelta(minutes=1))
        assert (await run.state()).history[-1].action == "step_overdue"
        assert (await _alerts(sessionmaker, code))[-1] == ("overdue", "TPHT", "head")

        # The leader's 2 hours no longer fit before the appointment: the desk is told, while
        # the appointment is still ahead.
        appointment = (await run.state()).due_at
        latest_start = run.calendar.subtract_working_time(appointment, timedelta(hours=2))
        await run.sleep_until(latest_start + timedelta(minutes=1))
        assert (await _alerts(sessionmaker, code))[-1] == ("apology_due", "BPMC", "desk_officer")

        # The desk apologises with a new appointment, before the old one passes.
        new_appointment = run.calendar.add_working_days(appointment, 2)
        await run.act(DESK, "extend", note="Chờ xác minh hộ tịch", new_due_at=new_appointment)
        state = await run.state()
        assert state.due_at == new_appointment
        assert state.history[-1].action == "extend"

        await run.act(Actor("tp", "TPHT", "specialist"), "approve")
        await run.act(Actor("ld", "LD", "leader"), "approve")
        outcome = await run.handle.result()
        state = await run.state()

    assert (outcome.status_code, outcome.outcome) == (10, "approved")
    timeliness = {e.step_key: e.timeliness for e in state.history if e.action == "approve"}
    assert timeliness["hotich"] == "late"
    async with sessionmaker() as session:
        row = await session.get_one(Dossier, code)
        assert (row.status_code, row.due_at) == (10, new_appointment)
        kinds = set(
            await session.scalars(select(Document.kind).where(Document.dossier_code == code))
        )
        assert {"receipt", "apology", "result", "control_slip"} <= kinds
        overdue = await session.get(
            SlipEntryRow, (code, [e for e in state.history if e.action == "step_overdue"][0].seq)
        )
        assert overdue is not None


async def test_withdrawal_while_a_step_waits(
    time_skipping: WorkflowEnvironment, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    async with _dossier(
        time_skipping, sessionmaker, settings, HKD, name="withdrawn-while-waiting"
    ) as run:
        await run.act(DESK, "accept")
        await time_skipping.sleep(timedelta(days=2))
        result = await run.handle.execute_update(
            DossierWorkflow.request_withdrawal, WithdrawalRequest("Không còn nhu cầu")
        )
        assert result.status_code == 7
        await run.act(DESK, "confirm_withdrawal")
        outcome = await run.handle.result()
    assert (outcome.status_code, outcome.outcome) == (8, "withdrawn")


async def test_a_returned_step_is_done_again_with_a_fresh_allotment(
    time_skipping: WorkflowEnvironment, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    async with _dossier(time_skipping, sessionmaker, settings, HKD, name="returned") as run:
        await run.act(DESK, "accept")
        await run.act(Actor("kt", "KT", "specialist"), "approve")
        await time_skipping.sleep(timedelta(hours=1))
        await run.act(Actor("kth", "KT", "head"), "return", note="Thẩm định lại địa điểm")
        state = await run.state()
    step = state.current_task
    assert step is not None and step.step_key == "tham_dinh"
    assert step.due_at == run.calendar.add_working_hours(step.started_at, 12)
    returned = [e for e in state.history if e.action == "return"]
    assert returned[0].step_key == "truong_phong" and returned[0].note == "Thẩm định lại địa điểm"


async def test_a_consultation_goes_on_without_the_department_that_never_answers(
    time_skipping: WorkflowEnvironment, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    async with _dossier(
        time_skipping, sessionmaker, settings, LAND, name="consultation-unanswered"
    ) as run:
        code = run.input.code
        await run.act(Actor("mc", "VPDK_MC", "desk_officer"), "accept")
        specialist = Actor("vpdk", "VPDK", "specialist")
        await run.act(specialist, "consult", note="Nguồn gốc đất? Nghĩa vụ thuế?")
        asked_at = await time_skipping.get_current_time()

        land_office = time_skipping.client.get_workflow_handle(f"{code}-consult-1-TNMT")
        opinion = ConsultationAnswer(Actor("tnmt", "TNMT", "specialist"), "Đất ở ổn định")
        await land_office.execute_update(ConsultationWorkflow.answer, opinion)
        # The tax office never answers: after its 16 working hours the step goes on.
        await run.sleep_until(run.calendar.add_working_hours(asked_at, 16) + timedelta(minutes=1))
        state = await run.state()
        await run.act(specialist, "approve")
        after = await run.state()

    noted = {e.action: e for e in state.history if e.action.startswith("consultation")}
    assert noted["consultation_answered"].note == "TNMT: Đất ở ổn định"
    assert noted["consultation_unanswered"].note is not None
    assert noted["consultation_unanswered"].note.startswith("THUE")
    assert after.current_task is not None and after.current_task.step_key == "xac_minh"
    async with sessionmaker() as session:
        rows = await session.scalars(select(Consultation).where(Consultation.dossier_code == code))
        assert {(c.department, c.status) for c in rows} == {
            ("TNMT", "answered"),
            ("THUE", "unanswered"),
        }

"""A dossier workflow's state, its tasks and control slip, and how each transition is
recorded: the read model (by an idempotent activity), the search attributes operators filter
by, the Web UI's current details; and the tickets that let an official's update return once
the dossier has settled after it.

`DossierWorkflow` (dossier.py) is built on it, with the checks of what officials and the
applicant ask (dossier_checks.py) and the step's deadlines (dossier_deadlines.py).
"""

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.dossier_activities import (
        DocumentIssue,
        DossierActivities,
        OfficialAlert,
        TransitionRecord,
    )
    from domain.calendar import VN_TZ
    from domain.dossier import (
        REMINDER_SHARE,
        SYSTEM_ACTOR,
        DocumentKind,
        Outcome,
        SlipAction,
        SlipEntry,
        Stage,
        StatusCode,
        StepSpec,
        Task,
        desk_task,
    )
    from workflows import search_attributes as sa
    from workflows.messages import (
        ActionRequest,
        DossierInput,
        PaymentConfirmation,
        SupplementSubmission,
        WithdrawalRequest,
    )

from workflows.run_version import RunVersion


def local_time(moment: datetime) -> str:
    return moment.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M")


class DossierBase:
    """The state every part of the dossier workflow reads, and the helpers that change it."""

    def __init__(self, input: DossierInput) -> None:
        # First, before any command: an update may run before `run` does.
        self._version = RunVersion.decide()
        self._input = input
        self._calendar = input.calendar.calendar()
        self._status = StatusCode.SUBMITTED
        self._stage = Stage.INTAKE
        self._outcome = Outcome.PENDING
        # The desk holds a dossier from the moment it is received, so an official may act on
        # it before the workflow's first step has run.
        self._task: Task | None = self._new_task(
            desk_task(input.procedure, Stage.INTAKE, input.received_at, None),
            input.procedure.intake_hours,
        )
        self._due_at = input.due_at
        self._finished_at: datetime | None = None
        self._history: list[SlipEntry] = []
        self._unrecorded: list[SlipEntry] = []
        self._record_seq = 0
        # Each action gets a ticket; its update returns once the dossier has settled after it,
        # so the official sees the new state.
        self._pending: ActionRequest | None = None
        self._tickets_issued = 0
        self._tickets_taken = 0
        self._tickets_answered = 0
        self._gateway_payment: PaymentConfirmation | None = None
        # The applicant's request to withdraw, and whether the desk's confirmation is awaited.
        self._withdrawal: WithdrawalRequest | None = None
        self._stopping = False
        self._step_index = 0  # of the review step in progress
        # Supplements: what the applicant was asked for, what they sent, and the working time
        # the clock stood still (Decision 766 subtracts it; a second request makes it late).
        self._missing: list[str] = []
        self._awaiting_supplement = False
        self._supplied: SupplementSubmission | None = None
        self._supplement_requests = 0
        self._supplement_time = timedelta(0)
        # Departments whose opinions the current step is waiting for.
        self._consulting: list[str] = []
        self._consultation_rounds = 0
        # Whether the desk was told the appointment cannot be met (once, until it apologises).
        self._apology_alerted = False
        # The API request whose input the run loop is acting on, until it next waits: the
        # transitions it records meanwhile were caused by it (None: by a timer).
        self._request_id = input.request_id

    def _new_task(self, task: Task, hours: float) -> Task:
        """`task` with its due time `hours` of working time after it starts, and the reminder
        at three quarters of that."""
        task.due_at = self._calendar.add_working_hours(task.started_at, hours)
        task.remind_at = self._calendar.add_working_hours(task.started_at, hours * REMINDER_SHARE)
        return task

    async def _hold_at_desk(self, stage: Stage, due_at: datetime | None) -> None:
        self._stage = stage
        self._task = desk_task(self._input.procedure, stage, workflow.now(), due_at)
        self._note(SlipAction.STEP_STARTED, actor=SYSTEM_ACTOR)
        await self._record()

    async def _start_step(self, step: StepSpec) -> None:
        self._task = self._new_task(
            Task(
                step_key=step.key,
                step_name=step.name,
                department=step.department,
                role=step.role,
                started_at=workflow.now(),
                due_at=None,
            ),
            step.hours,
        )
        self._note(SlipAction.STEP_STARTED, actor=SYSTEM_ACTOR)
        await self._record()

    def _answer_officials(self) -> None:
        """The dossier is about to wait for its next input: the updates of the actions that
        led here may now return, showing the state the dossier settled in."""
        self._tickets_answered = self._tickets_taken
        self._request_id = None

    def _take_pending(self) -> ActionRequest:
        request = self._pending
        assert request is not None
        self._pending = None
        self._request_id = request.request_id
        self._tickets_taken += 1
        return request

    async def _until_answered(self) -> None:
        """Take a ticket and wait until the run loop has settled after this update."""
        self._tickets_issued += 1
        ticket = self._tickets_issued
        await workflow.wait_condition(lambda: self._tickets_answered >= ticket)

    async def _finish(
        self, status: StatusCode, outcome: Outcome, document: DocumentIssue | None = None
    ) -> None:
        """The last transition: its record carries the whole control slip (forms 05/06)."""
        self._status, self._stage, self._outcome, self._task = status, Stage.DONE, outcome, None
        self._finished_at = workflow.now()
        slip = DocumentIssue(DocumentKind.CONTROL_SLIP, None)
        await self._record(documents=[document, slip] if document else [slip])

    def _note(
        self,
        action: str,
        *,
        actor: str,
        note: str | None = None,
        timeliness: str | None = None,
        department: str | None = None,
    ) -> None:
        """A line of the control slip, at the current step (and its department, unless the
        line is another unit's, like the desk's apology)."""
        task = self._task
        entry = SlipEntry(
            seq=len(self._history) + 1,
            step_key=task.step_key if task else str(self._stage),
            department=department
            or (task.department if task else self._input.procedure.desk_department),
            actor=actor,
            action=str(action),
            at=workflow.now(),
            note=note,
            timeliness=timeliness,
        )
        self._history.append(entry)
        self._unrecorded.append(entry)

    async def _record(
        self,
        *,
        documents: list[DocumentIssue] | None = None,
        alerts: list[OfficialAlert] | None = None,
        notice: str | None = None,
        request_id: str | None = None,
    ) -> None:
        """Write the current state and the new slip entries to the read model, with the
        documents to issue and the officials to alert at this point, and update the search
        attributes."""
        self._record_seq += 1
        entries, self._unrecorded = self._unrecorded, []
        task = self._task
        self._upsert_search_attributes()
        workflow.set_current_details(self._current_details())
        await self._version.write(
            DossierActivities.record_transition,
            TransitionRecord(
                code=self._input.code,
                seq=self._record_seq,
                status_code=int(self._status),
                stage=str(self._stage),
                outcome=str(self._outcome),
                task=task,
                due_at=self._due_at,
                finished_at=self._finished_at,
                entries=entries,
                supplement_requests=self._supplement_requests,
                supplement_hours=self._supplement_hours,
                documents=documents or [],
                alerts=alerts or [],
                notice=notice,
                # An update recorded in its own handler names its request; the run loop's
                # records, the input it is acting on.
                request_id=request_id or self._request_id,
            ),
        )

    @property
    def _supplement_hours(self) -> float:
        return self._supplement_time.total_seconds() / 3600

    def _current_details(self) -> str:
        """What the Temporal UI shows operators: step — department — due."""
        task = self._task
        if task is None:
            return f"{self._stage} (status {int(self._status)})"
        due = task.due_at.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M") if task.due_at else "—"
        return f"{task.step_name} — {task.department} — hạn {due}"

    def _upsert_search_attributes(self) -> None:
        """Tell the operators' index what changed (and only that: each upsert is a write)."""
        task = self._task
        wanted: dict[Any, Any] = {
            sa.STAGE: str(self._stage),
            sa.STATUS_CODE: int(self._status),
            sa.DEPARTMENT: task.department if task else None,
            sa.STEP_DUE_AT: task.due_at if task else None,
            sa.DUE_AT: self._due_at,
        }
        if self._version.publishes_transition_seq:
            wanted[sa.TRANSITION_SEQ] = self._record_seq
        current = workflow.info().typed_search_attributes
        if current.get(sa.STAGE) != str(self._stage) and self._version.patched("stage-since"):
            wanted[sa.STAGE_SINCE] = workflow.now()
        updates = [
            key.value_set(value) if value is not None else key.value_unset()
            for key, value in wanted.items()
            if current.get(key) != value
        ]
        if updates:
            workflow.upsert_search_attributes(updates)

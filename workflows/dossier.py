"""One durable workflow per dossier: intake → routing → review → payment → delivery.

Officials act through the `act` update, whose validator refuses a wrong or stale action before
anything is written; the payment gateway's confirmation arrives as the `payment_confirmed`
signal; `state` answers "which step, which department, when is it due". Every transition is
written to the read model (and the control slip) by an idempotent activity.
"""

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.dossier_activities import (
        DeskPaymentInput,
        DocumentIssue,
        DossierActivities,
        IssueDocumentInput,
        OfficialAlert,
        PaymentRequestInput,
        SupplementRecord,
        TransitionRecord,
    )
    from domain.calendar import VN_TZ
    from domain.dossier import (
        ACTIONS_BY_STAGE,
        ACTIONS_NEEDING_REASON,
        APPLICANT_ROLE,
        HEAD_ROLE,
        REMINDER_SHARE,
        SUPPLEMENT_STEP,
        SUPPLEMENT_STEP_NAME,
        SYSTEM_ACTOR,
        WITHDRAWAL_STEP,
        Action,
        ConsultSpec,
        DeliveryMethod,
        DocumentKind,
        DossierState,
        Outcome,
        SlipAction,
        SlipEntry,
        Stage,
        StatusCode,
        StepSpec,
        Task,
        desk_task,
        pays_through_gateway,
    )
    from workflows import search_attributes as sa
    from workflows.consultation import ConsultationWorkflow
    from workflows.messages import (
        ACTION_NOT_ALLOWED,
        INVALID_REQUEST,
        NOT_YOUR_STEP,
        REASON_REQUIRED,
        ActionRequest,
        ActionResult,
        ConsultationInput,
        ConsultationOutcome,
        DossierInput,
        DossierOutcome,
        PaymentConfirmation,
        SupplementSubmission,
        WithdrawalRequest,
    )
    from workflows.run_version import RunVersion

ONLINE_PAYMENT_STEP = "Nộp phí, lệ phí trực tuyến"

# Behaviour added while legacy dossiers were running (see workflows/run_version.py): their
# histories from before each patch replay without it.
STEP_REMINDERS = "step-reminders"

# How far one apology may move an appointment (the pinned calendar covers three years).
MAX_EXTENSION = timedelta(days=365)

# The payment gateway, an outside party: asked until it answers. (Writes to our own database
# go through RunVersion.write.)
_GATEWAY_TIMEOUT = timedelta(seconds=30)
_GATEWAY_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30))


class _WithdrawalRequested(Exception):
    """Raised at a wait when the applicant asked to withdraw: processing stops there."""


def _refuse(message: str, error_type: str = ACTION_NOT_ALLOWED) -> ApplicationError:
    return ApplicationError(message, type=error_type, non_retryable=True)


def _timeliness(finished_at: datetime, due_at: datetime | None) -> str | None:
    """Early (before the due day), on time (on the due day, by the due time), or late."""
    if due_at is None:
        return None
    if finished_at > due_at:
        return "late"
    if finished_at.astimezone(VN_TZ).date() < due_at.astimezone(VN_TZ).date():
        return "early"
    return "on_time"


def _local(moment: datetime) -> str:
    return moment.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M")


@workflow.defn
class DossierWorkflow:
    @workflow.init
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

    # ---- the lifecycle -------------------------------------------------------------------

    @workflow.run
    async def run(self, input: DossierInput) -> DossierOutcome:
        self._note(SlipAction.SUBMITTED, actor=SYSTEM_ACTOR, note=f"channel={input.channel}")
        self._note(SlipAction.STEP_STARTED, actor=SYSTEM_ACTOR)
        await self._record()
        try:
            await self._process()
        except _WithdrawalRequested:
            await self._stop_on_withdrawal()
        # Answer every update before completing, including a withdrawal that came too late to
        # be acted on (it then fails, saying so).
        self._tickets_answered = self._tickets_issued
        await workflow.wait_condition(workflow.all_handlers_finished)
        return DossierOutcome(int(self._status), str(self._outcome))

    async def _process(self) -> None:
        procedure = self._input.procedure
        # Intake: the one-stop desk accepts or refuses (after supplements, if any).
        request = await self._await_decision()
        if request.action == Action.REFUSE:
            await self._finish(
                StatusCode.REFUSED,
                Outcome.REFUSED,
                DocumentIssue(DocumentKind.INTAKE_REFUSAL, request.actor.username, request.note),
            )
            return
        self._status, self._stage = StatusCode.ACCEPTED, Stage.ROUTING

        # Routing: the pinned internal process decides the departments, in order. The receipt
        # and appointment slip (form 01) goes to the applicant.
        route = " → ".join(f"{s.key}@{s.department}" for s in procedure.steps)
        self._note(SlipAction.ROUTED, actor=SYSTEM_ACTOR, note=route)
        await self._record(documents=[DocumentIssue(DocumentKind.RECEIPT, request.actor.username)])

        # Review: each step is a human task for its department and role.
        self._status, self._stage = StatusCode.IN_PROCESS, Stage.REVIEW
        self._step_index = 0
        while self._step_index < len(procedure.steps):
            await self._start_step(procedure.steps[self._step_index])
            request = await self._await_decision()
            if request.action == Action.REJECT:
                self._outcome = Outcome.REJECTED
                break
            # Returned with a reason: the previous step is done again.
            self._step_index += -1 if request.action == Action.RETURN else 1
        else:
            self._outcome = Outcome.APPROVED

        if self._outcome == Outcome.APPROVED and procedure.fee_vnd > 0:
            await self._collect_fee()

        await self._deliver(reason=request.note if self._outcome == Outcome.REJECTED else None)

    async def _stop_on_withdrawal(self) -> None:
        """The applicant asked to withdraw: the desk confirms, and processing stops."""
        assert self._withdrawal is not None
        self._request_id = self._withdrawal.request_id
        self._stopping = True
        self._tickets_taken += 1  # the applicant's request, answered once the desk holds it
        self._status = StatusCode.WITHDRAWAL_REQUESTED
        self._note(
            SlipAction.WITHDRAWAL_REQUESTED, actor=APPLICANT_ROLE, note=self._withdrawal.reason
        )
        self._task = desk_task(self._input.procedure, WITHDRAWAL_STEP, workflow.now(), None)
        self._note(SlipAction.STEP_STARTED, actor=SYSTEM_ACTOR)
        await self._record()
        await self._await_decision()
        if self._version.patched("settle-payment-on-withdrawal"):
            # A fee not yet paid is cancelled; one already paid is owed back.
            await self._version.write(
                DossierActivities.settle_payment_on_withdrawal,
                self._input.code,
            )
        await self._finish(StatusCode.STOPPED, Outcome.WITHDRAWN)

    async def _collect_fee(self) -> None:
        input = self._input
        # In the payment stage before the gateway is asked, so that a confirmation arriving
        # together with the request's completion is not turned away.
        self._status, self._stage = StatusCode.PAYMENT_REQUESTED, Stage.PAYMENT
        if pays_through_gateway(input.procedure.level, input.channel):
            payment = await workflow.execute_activity_method(
                DossierActivities.request_payment,
                PaymentRequestInput(input.code, input.procedure.fee_vnd),
                start_to_close_timeout=_GATEWAY_TIMEOUT,
                retry_policy=_GATEWAY_RETRY,
            )
            self._note(SlipAction.PAYMENT_REQUESTED, actor=SYSTEM_ACTOR, note=payment.payment_id)
            # The applicant holds this step: it ends with the gateway's confirmation.
            self._task = Task(
                step_key=str(Stage.PAYMENT),
                step_name=ONLINE_PAYMENT_STEP,
                department=input.procedure.desk_department,
                role=APPLICANT_ROLE,
                started_at=workflow.now(),
                due_at=None,
            )
            self._note(SlipAction.STEP_STARTED, actor=SYSTEM_ACTOR)
            await self._record()
            self._answer_officials()
            await workflow.wait_condition(
                lambda: self._gateway_payment is not None or self._withdrawal is not None
            )
            if self._gateway_payment is None:
                raise _WithdrawalRequested
            self._request_id = self._gateway_payment.request_id
            self._note(SlipAction.PAID, actor="gateway", note=self._gateway_payment.payment_id)
            self._task = None
            return
        # Paid at the desk, recorded by the official who took the fee.
        await self._hold_at_desk(Stage.PAYMENT, due_at=None)
        request = await self._await_decision()
        await self._version.write(
            DossierActivities.record_desk_payment,
            DeskPaymentInput(
                input.code, input.procedure.fee_vnd, request.actor.username, workflow.now()
            ),
        )

    async def _deliver(self, reason: str | None) -> None:
        """Issue the decision, then return it by the applicant's chosen method."""
        if self._withdrawal is not None:
            # Asked for while the dossier was between waits: still in time, it stops here.
            raise _WithdrawalRequested
        self._status, self._stage, self._task = StatusCode.PROCESSED, Stage.DELIVERY, None
        kind = "refusal" if self._outcome == Outcome.REJECTED else "result"
        document = await self._version.write(
            DossierActivities.issue_document,
            IssueDocumentInput(self._input.code, kind, reason, workflow.now()),
        )
        self._note(SlipAction.RESULT_ISSUED, actor=SYSTEM_ACTOR, note=document.name)
        if self._version.patched("record-result-issued"):
            # Status 9 reaches the read model (and the applicant) even when the result is
            # returned at once, online. Histories from before this change replay without it.
            await self._record()
        if self._input.delivery_method == DeliveryMethod.ONLINE:
            # Published for the applicant to download: that is the return of the result.
            self._note(SlipAction.RESULT_PUBLISHED, actor=SYSTEM_ACTOR)
        else:
            await self._hold_at_desk(Stage.DELIVERY, due_at=self._due_at)
            await self._await_decision()
        await self._finish(StatusCode.RESULT_RETURNED, self._outcome)

    # ---- asides: supplements and consultations ------------------------------------------------

    async def _supplement(self, request: ActionRequest) -> None:
        """The applicant completes the dossier (form 02). The clock stands still meanwhile:
        every due time moves on by the working time the applicant took."""
        held, status = self._task, self._status
        assert held is not None
        paused_at = workflow.now()
        self._supplement_requests += 1
        self._missing = list(request.components)
        self._status = StatusCode.SUPPLEMENT_REQUESTED
        self._task = Task(
            step_key=SUPPLEMENT_STEP,
            step_name=SUPPLEMENT_STEP_NAME,
            department=self._input.procedure.desk_department,
            role=APPLICANT_ROLE,
            started_at=paused_at,
            due_at=None,
        )
        self._note(SlipAction.STEP_STARTED, actor=SYSTEM_ACTOR)
        await self._record(
            documents=[
                DocumentIssue(
                    DocumentKind.SUPPLEMENT_REQUEST,
                    request.actor.username,
                    request.note,
                    components=list(request.components),
                )
            ]
        )
        self._awaiting_supplement = True
        self._answer_officials()
        await workflow.wait_condition(
            lambda: self._supplied is not None or self._withdrawal is not None
        )
        # Taken at once: a second submission is refused from here on.
        supplied, self._supplied, self._awaiting_supplement = self._supplied, None, False
        if supplied is None:
            raise _WithdrawalRequested
        self._request_id = supplied.request_id
        self._tickets_taken += 1
        await self._version.write(
            DossierActivities.record_supplement,
            SupplementRecord(self._input.code, self._supplement_requests, supplied),
        )
        resumed_at = workflow.now()
        self._supplement_time += self._calendar.working_time_between(paused_at, resumed_at)
        self._due_at = self._calendar.resume(self._due_at, paused_at, resumed_at)
        for attribute in ("due_at", "remind_at"):
            moment = getattr(held, attribute)
            if moment is not None:
                setattr(held, attribute, self._calendar.resume(moment, paused_at, resumed_at))
        self._status, self._task, self._missing = status, held, []
        self._note(SlipAction.SUPPLEMENTED, actor=APPLICANT_ROLE, note=supplied.note)
        await self._record()

    async def _consult(self, request: ActionRequest) -> None:
        """Ask other departments for their opinions, in parallel; the step goes on when all
        have answered or their allotted time ran out."""
        task = self._task
        assert task is not None
        step = self._input.procedure.steps[self._step_index]
        asked = [
            c
            for c in step.consults
            if not request.departments or c.department in request.departments
        ]
        # Set before the first await: no other action on the step is accepted from here on.
        self._consulting = [spec.department for spec in asked]
        try:
            await self._consult_departments(task, asked, request.note)
        finally:
            self._consulting = []
        await self._record()

    async def _consult_departments(
        self, task: Task, asked: list[ConsultSpec], question: str | None
    ) -> None:
        self._consultation_rounds += 1
        now = workflow.now()
        children = [
            await workflow.start_child_workflow(
                ConsultationWorkflow.run,
                ConsultationInput(
                    dossier_code=self._input.code,
                    step_key=task.step_key,
                    department=spec.department,
                    role=spec.role,
                    question=question,
                    asked_at=now,
                    due_at=self._calendar.add_working_hours(now, spec.hours),
                ),
                id=f"{self._input.code}-consult-{self._consultation_rounds}-{spec.department}",
            )
            for spec in asked
        ]
        await self._record()
        self._answer_officials()
        # The step's own deadlines still run while the departments are asked.
        await self._wait_with_alerts(
            task, lambda: all(child.done() for child in children) or self._withdrawal is not None
        )
        if not all(child.done() for child in children):
            for child in children:
                child.cancel()
            # Until each has stopped: the dossier must not complete while their ends are
            # still arriving.
            await asyncio.gather(*children, return_exceptions=True)
            raise _WithdrawalRequested
        for child in children:
            outcome: ConsultationOutcome = child.result()
            if outcome.answered_by is None:
                self._note(
                    SlipAction.CONSULTATION_UNANSWERED,
                    actor=SYSTEM_ACTOR,
                    note=f"{outcome.department}: no opinion within the allotted time",
                )
            else:
                self._note(
                    SlipAction.CONSULTATION_ANSWERED,
                    actor=outcome.answered_by,
                    note=f"{outcome.department}: {outcome.opinion}",
                )

    async def _reassign(self, request: ActionRequest) -> None:
        task, assignee = self._task, request.assignee
        assert task is not None and assignee is not None
        task.assignee = assignee.username
        self._note(Action.REASSIGN, actor=request.actor.username, note=assignee.username)
        await self._record(
            alerts=[
                OfficialAlert(
                    "assigned",
                    task.department,
                    task.role,
                    assignee.username,
                    f"{task.step_name}: giao cho {assignee.username}, hạn {self._due_text(task)}",
                )
            ],
            request_id=request.request_id,
        )

    async def _extend(self, request: ActionRequest) -> None:
        """The desk's apology with a new appointment date (form 04), sent to the applicant."""
        assert request.new_due_at is not None
        previous, self._due_at = self._due_at, request.new_due_at
        self._apology_alerted = False  # the new appointment is watched afresh
        self._note(
            Action.EXTEND,
            actor=request.actor.username,
            note=f"{_local(previous)} → {_local(self._due_at)}: {request.note}",
            department=self._input.procedure.desk_department,
        )
        await self._record(
            documents=[
                DocumentIssue(
                    DocumentKind.APOLOGY,
                    request.actor.username,
                    request.note,
                    previous_due_at=previous,
                    new_due_at=self._due_at,
                )
            ],
            notice=f"Hồ sơ {self._input.code}: xin lỗi vì chậm trả kết quả; hẹn lại "
            f"{_local(self._due_at)}.",
            request_id=request.request_id,
        )

    # ---- tasks and the control slip --------------------------------------------------------

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

    async def _await_decision(self) -> ActionRequest:
        """Wait for the official's decision on the current task, taking the asides (a
        supplement, a consultation) on the way. The decision closes the task at once (before
        anything else is awaited), so no second action can be accepted for the same task."""
        while True:
            request = await self._await_action()
            if request.action == Action.REQUEST_SUPPLEMENT:
                await self._supplement(request)
            elif request.action == Action.CONSULT:
                await self._consult(request)
            else:
                self._task = None
                return request

    async def _await_action(self) -> ActionRequest:
        """Wait for an official's action on the current task, alerting on the way: at three
        quarters of its time the assignee is reminded; at its due time it is marked late and
        its department's head is told; and when the steps left can no longer be done by the
        appointment, the desk is told to apologise (form 04) while there is still time."""
        task = self._task
        assert task is not None
        self._answer_officials()
        await self._wait_with_alerts(task, self._woken)
        if self._pending is None:
            raise _WithdrawalRequested
        request = self._take_pending()
        decides = request.action not in (Action.REQUEST_SUPPLEMENT, Action.CONSULT)
        self._note(
            request.action,
            actor=request.actor.username,
            note=request.note,
            timeliness=_timeliness(workflow.now(), task.due_at) if decides else None,
        )
        return request

    # ---- deadlines and alerts ------------------------------------------------------------

    async def _wait_with_alerts(self, task: Task, done: Callable[[], bool]) -> None:
        """Wait until `done()`, alerting at the task's deadlines as they pass. When the
        appointment moves meanwhile (the desk's apology), the deadlines are counted again."""
        while True:
            due_at = self._due_at

            def woken(due_at: datetime = due_at) -> bool:
                return done() or self._due_at != due_at

            for moment, alert in self._deadlines(task):
                if await self._wait_until(woken, moment):
                    break
                await self._alert(task, alert)
            await workflow.wait_condition(woken)
            if done():
                return

    def _deadlines(self, task: Task) -> list[tuple[datetime, str]]:
        """The alerts still to come while `task` waits, in the order they fall due."""
        deadlines = []
        if task.due_at is not None and not task.overdue:
            deadlines.append((task.due_at, "overdue"))
        if self._version.patched(STEP_REMINDERS):
            if task.remind_at is not None and not task.reminded:
                deadlines.append((task.remind_at, "reminder"))
            latest_start = self._latest_start()
            if latest_start is not None and not self._apology_alerted:
                deadlines.append((latest_start, "apology_due"))
        return sorted(deadlines)

    def _latest_start(self) -> datetime | None:
        """While the dossier is processed, the last moment the current step can end and the
        steps after it still fit before the appointment."""
        steps = self._input.procedure.steps
        if self._stopping:
            return None
        if self._stage == Stage.INTAKE:
            after = steps
        elif self._stage == Stage.REVIEW:
            after = steps[self._step_index + 1 :]
        else:
            return None
        left = timedelta(hours=sum(step.hours for step in after))
        return self._calendar.subtract_working_time(self._due_at, left)

    async def _alert(self, task: Task, kind: str) -> None:
        if kind == "reminder":
            task.reminded = True
            self._note(SlipAction.STEP_REMINDED, actor=SYSTEM_ACTOR)
            await self._record(alerts=[self._official_alert(task, "reminder", task.role)])
        elif kind == "overdue":
            task.overdue = True
            self._note(SlipAction.STEP_OVERDUE, actor=SYSTEM_ACTOR)
            await self._record(alerts=[self._official_alert(task, "overdue", HEAD_ROLE)])
        else:
            self._apology_alerted = True
            procedure = self._input.procedure
            message = (
                f"không kịp hẹn trả {_local(self._due_at)}: gửi phiếu xin lỗi và hẹn lại "
                "(mẫu 04) trước thời hạn"
            )
            await self._record(
                alerts=[
                    OfficialAlert(
                        "apology_due", procedure.desk_department, procedure.desk_role, None, message
                    )
                ]
            )

    @staticmethod
    async def _wait_until(condition: Callable[[], bool], until: datetime) -> bool:
        """Wait until `condition()` (True) or until `until` (False)."""
        try:
            await workflow.wait_condition(
                condition, timeout=max(until - workflow.now(), timedelta(0))
            )
        except TimeoutError:
            return False
        return True

    def _official_alert(self, task: Task, kind: str, role: str) -> OfficialAlert:
        """A reminder goes to the step's assignee (or its department and role); a late step
        goes to its department's head."""
        due = self._due_text(task)
        if kind == "reminder":
            message = f"{task.step_name}: đã dùng 3/4 thời gian, hạn {due}"
        else:
            message = f"{task.step_name} ({task.role}) quá hạn từ {due}"
        assignee = task.assignee if kind == "reminder" else None
        return OfficialAlert(kind, task.department, role, assignee, message)

    @staticmethod
    def _due_text(task: Task) -> str:
        return _local(task.due_at) if task.due_at else "—"

    def _woken(self) -> bool:
        """An official acted, or the applicant asked to withdraw (while that is not yet being
        handled)."""
        return self._pending is not None or (self._withdrawal is not None and not self._stopping)

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

    # ---- officials, the gateway and queries --------------------------------------------------

    @workflow.update
    async def act(self, request: ActionRequest) -> ActionResult:
        # Re-checked here: another update may have been accepted since the validator ran.
        self._check_action(request)
        if request.action == Action.REASSIGN:
            await self._reassign(request)
        elif request.action == Action.EXTEND:
            await self._extend(request)
        else:
            self._pending = request
            await self._until_answered()
        return ActionResult(int(self._status), str(self._stage), self._task)

    async def _until_answered(self) -> None:
        """Take a ticket and wait until the run loop has settled after this update."""
        self._tickets_issued += 1
        ticket = self._tickets_issued
        await workflow.wait_condition(lambda: self._tickets_answered >= ticket)

    @act.validator
    def _validate_act(self, request: ActionRequest) -> None:
        self._check_action(request)

    def _check_action(self, request: ActionRequest) -> None:
        try:
            action = Action(request.action)
        except ValueError:
            raise _refuse(f"unknown action {request.action!r}") from None
        if action == Action.EXTEND:
            self._check_extension(request)
        else:
            self._check_step_action(action, request)
        if action in ACTIONS_NEEDING_REASON and not (request.note and request.note.strip()):
            raise _refuse(f"{action} needs a reason in `note`", REASON_REQUIRED)

    def _check_step_action(self, action: Action, request: ActionRequest) -> None:
        task = self._task
        code = self._input.code
        if self._pending is not None or task is None:
            raise _refuse(f"dossier {code} is not waiting for an action (stage {self._stage})")
        if self._withdrawal is not None and not self._stopping:
            raise _refuse(
                f"the applicant's withdrawal of dossier {code} is being taken up: look at the "
                "dossier again in a moment"
            )
        if self._stopping:
            if action != Action.CONFIRM_WITHDRAWAL:
                raise _refuse(
                    f"{action} does not fit dossier {code}: the applicant asked to withdraw "
                    "it; only confirm_withdrawal is accepted"
                )
        elif self._status == StatusCode.SUPPLEMENT_REQUESTED:
            raise _refuse(f"dossier {code} is waiting for the applicant's supplement")
        elif self._consulting and action != Action.REASSIGN:
            raise _refuse(
                f"step {task.step_key} is waiting for the opinions of {', '.join(self._consulting)}"
            )
        elif action == Action.CONFIRM_WITHDRAWAL:
            raise _refuse(
                f"{action} does not fit dossier {code}: the applicant has not asked to withdraw it"
            )
        elif action not in ACTIONS_BY_STAGE.get(self._stage, frozenset()):
            raise _refuse(
                f"{action} does not fit dossier {code}: it is at step {task.step_key} "
                f"({self._stage})"
            )
        if request.step_key is not None and request.step_key != task.step_key:
            raise _refuse(
                f"stale action: dossier {code} has moved from step {request.step_key} to "
                f"{task.step_key}"
            )
        self._check_fits(action, task)
        self._check_actor(request, task)
        self._check_arguments(action, request, task)

    def _check_actor(self, request: ActionRequest, task: Task) -> None:
        """The step's department and role act on it (its assignee, once it has one); the
        department's head may also hand it to another official."""
        actor = request.actor
        heads_department = actor.department == task.department and actor.role == HEAD_ROLE
        if request.action == Action.REASSIGN and heads_department:
            return
        if (actor.department, actor.role) != (task.department, task.role):
            raise _refuse(
                f"step {task.step_key} belongs to department {task.department}, role {task.role}",
                NOT_YOUR_STEP,
            )
        if task.assignee is not None and actor.username != task.assignee:
            raise _refuse(f"step {task.step_key} is assigned to {task.assignee}", NOT_YOUR_STEP)

    def _check_fits(self, action: Action, task: Task) -> None:
        """Actions that cannot apply to this step, whoever sends them (409)."""
        if action == Action.RETURN and self._step_index == 0:
            raise _refuse(
                f"step {task.step_key} is the first review step: there is none to return to"
            )
        if action == Action.CONFIRM_PAYMENT and pays_through_gateway(
            self._input.procedure.level, self._input.channel
        ):
            raise _refuse(f"dossier {self._input.code} is paid online through the payment gateway")
        if action == Action.REASSIGN and task.role == APPLICANT_ROLE:
            raise _refuse(f"step {task.step_key} is the applicant's: it has no official to change")
        if action == Action.CONSULT and not self._consultable():
            raise _refuse(f"step {task.step_key} consults no other department")

    def _consultable(self) -> set[str]:
        return {c.department for c in self._input.procedure.steps[self._step_index].consults}

    def _check_arguments(self, action: Action, request: ActionRequest, task: Task) -> None:
        """What the action names must fit the step (422)."""
        if action == Action.REQUEST_SUPPLEMENT and not request.components:
            raise _refuse("request_supplement needs the missing `components`", INVALID_REQUEST)
        if action == Action.REASSIGN:
            assignee = request.assignee
            if assignee is None:
                raise _refuse(
                    "reassign needs the official who takes the step over", INVALID_REQUEST
                )
            if (assignee.department, assignee.role) != (task.department, task.role):
                raise _refuse(
                    f"{assignee.username} cannot take step {task.step_key}: it needs department "
                    f"{task.department}, role {task.role}",
                    INVALID_REQUEST,
                )
        if action == Action.CONSULT:
            offered = self._consultable()
            unknown = sorted(set(request.departments) - offered)
            if unknown:
                raise _refuse(
                    f"step {task.step_key} may consult {', '.join(sorted(offered))}, "
                    f"not {', '.join(unknown)}",
                    INVALID_REQUEST,
                )

    def _check_extension(self, request: ActionRequest) -> None:
        """The apology comes from the desk, with a later appointment, before the old one
        passes, while the dossier is still being processed."""
        procedure, code = self._input.procedure, self._input.code
        actor = request.actor
        if (actor.department, actor.role) != (procedure.desk_department, procedure.desk_role):
            raise _refuse(
                f"the apology and new appointment of dossier {code} are the one-stop desk's "
                f"({procedure.desk_department}, {procedure.desk_role})",
                NOT_YOUR_STEP,
            )
        if self._stage == Stage.DONE or self._status >= StatusCode.PROCESSED or self._withdrawal:
            raise _refuse(f"dossier {code} is no longer being processed: nothing to extend")
        if self._status == StatusCode.SUPPLEMENT_REQUESTED:
            raise _refuse(
                f"dossier {code} is with the applicant for a supplement: its clock is stopped, "
                "and its appointment moves when it resumes"
            )
        now = workflow.now()
        if now >= self._due_at:
            raise _refuse(
                f"the appointment of dossier {code} passed at {_local(self._due_at)}: the "
                "apology had to come before it"
            )
        new_due_at = request.new_due_at
        if new_due_at is None or new_due_at <= self._due_at:
            raise _refuse(
                f"extend needs `new_due_at` later than the current appointment "
                f"({_local(self._due_at)})",
                INVALID_REQUEST,
            )
        if new_due_at > self._due_at + MAX_EXTENSION:
            raise _refuse(
                f"an apology moves the appointment by {MAX_EXTENSION.days} days at most",
                INVALID_REQUEST,
            )
        if not self._calendar.is_office_time(new_due_at):
            raise _refuse(
                f"the new appointment {_local(new_due_at)} is outside office hours or on a day off",
                INVALID_REQUEST,
            )

    @workflow.update
    async def supplement(self, submission: SupplementSubmission) -> ActionResult:
        """The applicant sends what was missing; the dossier goes back where it was."""
        self._check_supplement(submission)
        self._supplied = submission
        await self._until_answered()
        return ActionResult(int(self._status), str(self._stage), self._task)

    @supplement.validator
    def _validate_supplement(self, submission: SupplementSubmission) -> None:
        self._check_supplement(submission)

    def _check_supplement(self, submission: SupplementSubmission) -> None:
        code = self._input.code
        if not self._awaiting_supplement or self._supplied is not None:
            raise _refuse(f"dossier {code} is not waiting for a supplement")
        if self._withdrawal is not None:
            raise _refuse(f"dossier {code} is being withdrawn")
        missing = sorted(set(self._missing) - {c.component_code for c in submission.components})
        if missing:
            raise _refuse(
                f"the supplement lacks the requested {', '.join(missing)}", INVALID_REQUEST
            )
        if not submission.components:
            raise _refuse("a supplement needs at least one document", INVALID_REQUEST)

    @workflow.update
    async def request_withdrawal(self, request: WithdrawalRequest) -> ActionResult:
        self._check_withdrawal()
        self._withdrawal = request
        await self._until_answered()
        if not self._stopping:
            self._withdrawal = None
            raise _refuse(
                f"dossier {self._input.code} was processed before its withdrawal could stop it"
            )
        return ActionResult(int(self._status), str(self._stage), self._task)

    @request_withdrawal.validator
    def _validate_withdrawal(self, request: WithdrawalRequest) -> None:
        self._check_withdrawal()

    def _check_withdrawal(self) -> None:
        if self._withdrawal is not None:
            problem = "its withdrawal was already asked for"
        elif self._status >= StatusCode.PROCESSED or self._stage == Stage.DONE:
            problem = "it is already processed"
        else:
            return
        raise _refuse(f"dossier {self._input.code} cannot be withdrawn: {problem}")

    @workflow.signal
    def payment_confirmed(self, confirmation: PaymentConfirmation) -> None:
        if self._withdrawal is not None:
            # Settled (refund due) when the withdrawal is confirmed.
            workflow.logger.warning("payment confirmation ignored: dossier being withdrawn")
            return
        if self._stage != Stage.PAYMENT or self._gateway_payment is not None:
            workflow.logger.warning("payment confirmation ignored: not waiting for payment")
            return
        if confirmation.amount_vnd != self._input.procedure.fee_vnd:
            workflow.logger.warning("payment confirmation ignored: amount differs from the fee")
            return
        self._gateway_payment = confirmation

    @workflow.query
    def state(self) -> DossierState:
        return DossierState(
            code=self._input.code,
            procedure_code=self._input.procedure.code,
            status_code=int(self._status),
            stage=str(self._stage),
            outcome=str(self._outcome),
            current_task=self._task,
            received_at=self._input.received_at,
            due_at=self._due_at,
            finished_at=self._finished_at,
            history=list(self._history),
            supplement_requests=self._supplement_requests,
            supplement_hours=self._supplement_hours,
        )

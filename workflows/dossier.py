"""One durable workflow per dossier: intake → routing → review → payment → delivery.

Officials act through the `act` update, whose validator refuses a wrong or stale action before
anything is written; the payment gateway's confirmation arrives as the `payment_confirmed`
signal; `state` answers "which step, which department, when is it due". Every transition is
written to the read model (and the control slip) by an idempotent activity.
"""

import asyncio
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.dossier_activities import (
        DeskPaymentInput,
        DocumentIssue,
        DossierActivities,
        IssueDocumentInput,
        OfficialAlert,
        PaymentRequestInput,
        SupplementRecord,
    )
    from domain.calendar import VN_TZ
    from domain.dossier import (
        APPLICANT_ROLE,
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
        Stage,
        StatusCode,
        Task,
        desk_task,
        pays_through_gateway,
    )
    from workflows.consultation import ConsultationWorkflow
    from workflows.messages import (
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

from workflows.dossier_checks import ActionChecks, refuse
from workflows.dossier_deadlines import Deadlines
from workflows.dossier_state import local_time
from workflows.run_version import ACTIVITY_RETRY, ACTIVITY_TIMEOUT

ONLINE_PAYMENT_STEP = "Nộp phí, lệ phí trực tuyến"


class _WithdrawalRequested(Exception):
    """Raised at a wait when the applicant asked to withdraw: processing stops there."""


def _timeliness(finished_at: datetime, due_at: datetime | None) -> str | None:
    """Early (before the due day), on time (on the due day, by the due time), or late."""
    if due_at is None:
        return None
    if finished_at > due_at:
        return "late"
    if finished_at.astimezone(VN_TZ).date() < due_at.astimezone(VN_TZ).date():
        return "early"
    return "on_time"


@workflow.defn
class DossierWorkflow(ActionChecks, Deadlines):
    @workflow.init
    def __init__(self, input: DossierInput) -> None:
        super().__init__(input)

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
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=ACTIVITY_RETRY,
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
            note=f"{local_time(previous)} → {local_time(self._due_at)}: {request.note}",
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
            f"{local_time(self._due_at)}.",
            request_id=request.request_id,
        )

    # ---- waiting for the officials ---------------------------------------------------------

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

    def _woken(self) -> bool:
        """An official acted, or the applicant asked to withdraw (while that is not yet being
        handled)."""
        return self._pending is not None or (self._withdrawal is not None and not self._stopping)

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

    @act.validator
    def _validate_act(self, request: ActionRequest) -> None:
        self._check_action(request)

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

    @workflow.update
    async def request_withdrawal(self, request: WithdrawalRequest) -> ActionResult:
        self._check_withdrawal()
        self._withdrawal = request
        await self._until_answered()
        if not self._stopping:
            self._withdrawal = None
            raise refuse(
                f"dossier {self._input.code} was processed before its withdrawal could stop it"
            )
        return ActionResult(int(self._status), str(self._stage), self._task)

    @request_withdrawal.validator
    def _validate_withdrawal(self, request: WithdrawalRequest) -> None:
        self._check_withdrawal()

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

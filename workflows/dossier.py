"""One durable workflow per dossier: intake → routing → review → payment → delivery.

Officials act through the `act` update, whose validator refuses a wrong or stale action before
anything is written; the payment gateway's confirmation arrives as the `payment_confirmed`
signal; `state` answers "which step, which department, when is it due". Every transition is
written to the read model (and the control slip) by an idempotent activity.
"""

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.dossier_activities import (
        DeskPaymentInput,
        DossierActivities,
        IssueDocumentInput,
        PaymentRequestInput,
        TransitionRecord,
    )
    from domain.calendar import VN_TZ
    from domain.dossier import (
        ACTIONS_BY_STAGE,
        ACTIONS_NEEDING_REASON,
        SYSTEM_ACTOR,
        WITHDRAWAL_STEP,
        Action,
        DeliveryMethod,
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
    from workflows.messages import (
        ACTION_NOT_ALLOWED,
        NOT_YOUR_STEP,
        REASON_REQUIRED,
        ActionRequest,
        ActionResult,
        DossierInput,
        DossierOutcome,
        PaymentConfirmation,
        WithdrawalRequest,
    )

ONLINE_PAYMENT_STEP = "Nộp phí, lệ phí trực tuyến"
APPLICANT_ROLE = "applicant"

_ACTIVITY_TIMEOUT = timedelta(seconds=30)
# Activities retry until they succeed: the database coming back is the normal end of an outage.
_ACTIVITY_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30))
# Writes to our own database are short: they run as local activities, in the workflow task,
# which spares two round trips to the server per write. Calls to outside parties (the payment
# gateway) stay regular activities, with their own task queue slot and retries.


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
class DossierWorkflow:
    @workflow.init
    def __init__(self, input: DossierInput) -> None:
        self._input = input
        self._calendar = input.calendar.calendar()
        self._status = StatusCode.SUBMITTED
        self._stage = Stage.INTAKE
        self._outcome = Outcome.PENDING
        # The desk holds a dossier from the moment it is received, so an official may act on
        # it before the workflow's first step has run.
        self._task: Task | None = desk_task(
            input.procedure,
            Stage.INTAKE,
            input.received_at,
            self._calendar.add_working_hours(input.received_at, input.procedure.intake_hours),
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
        # Intake: the one-stop desk accepts or refuses.
        request = await self._await_action()
        if request.action == Action.REFUSE:
            await self._finish(StatusCode.REFUSED, Outcome.REFUSED)
            return
        self._status, self._stage = StatusCode.ACCEPTED, Stage.ROUTING

        # Routing: the pinned internal process decides the departments, in order.
        route = " → ".join(f"{s.key}@{s.department}" for s in procedure.steps)
        self._note(SlipAction.ROUTED, actor=SYSTEM_ACTOR, note=route)
        await self._record()

        # Review: each step is a human task for its department and role.
        self._status, self._stage = StatusCode.IN_PROCESS, Stage.REVIEW
        self._step_index = 0
        while self._step_index < len(procedure.steps):
            await self._start_step(procedure.steps[self._step_index])
            request = await self._await_action()
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
        self._stopping = True
        self._tickets_taken += 1  # the applicant's request, answered once the desk holds it
        self._status = StatusCode.WITHDRAWAL_REQUESTED
        self._note(
            SlipAction.WITHDRAWAL_REQUESTED, actor=APPLICANT_ROLE, note=self._withdrawal.reason
        )
        self._task = desk_task(self._input.procedure, WITHDRAWAL_STEP, workflow.now(), None)
        self._note(SlipAction.STEP_STARTED, actor=SYSTEM_ACTOR)
        await self._record()
        await self._await_action()
        if workflow.patched("settle-payment-on-withdrawal"):
            # A fee not yet paid is cancelled; one already paid is owed back.
            await workflow.execute_local_activity_method(
                DossierActivities.settle_payment_on_withdrawal,
                self._input.code,
                start_to_close_timeout=_ACTIVITY_TIMEOUT,
                retry_policy=_ACTIVITY_RETRY,
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
                start_to_close_timeout=_ACTIVITY_TIMEOUT,
                retry_policy=_ACTIVITY_RETRY,
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
            self._note(SlipAction.PAID, actor="gateway", note=self._gateway_payment.payment_id)
            self._task = None
            return
        # Paid at the desk, recorded by the official who took the fee.
        await self._hold_at_desk(Stage.PAYMENT, due_at=None)
        request = await self._await_action()
        await workflow.execute_local_activity_method(
            DossierActivities.record_desk_payment,
            DeskPaymentInput(
                input.code, input.procedure.fee_vnd, request.actor.username, workflow.now()
            ),
            start_to_close_timeout=_ACTIVITY_TIMEOUT,
            retry_policy=_ACTIVITY_RETRY,
        )

    async def _deliver(self, reason: str | None) -> None:
        """Issue the decision, then return it by the applicant's chosen method."""
        if self._withdrawal is not None:
            # Asked for while the dossier was between waits: still in time, it stops here.
            raise _WithdrawalRequested
        self._status, self._stage, self._task = StatusCode.PROCESSED, Stage.DELIVERY, None
        kind = "refusal" if self._outcome == Outcome.REJECTED else "result"
        document = await workflow.execute_local_activity_method(
            DossierActivities.issue_document,
            IssueDocumentInput(self._input.code, kind, reason, workflow.now()),
            start_to_close_timeout=_ACTIVITY_TIMEOUT,
            retry_policy=_ACTIVITY_RETRY,
        )
        self._note(SlipAction.RESULT_ISSUED, actor=SYSTEM_ACTOR, note=document.name)
        if workflow.patched("record-result-issued"):
            # Status 9 reaches the read model (and the applicant) even when the result is
            # returned at once, online. Histories from before this change replay without it.
            await self._record()
        if self._input.delivery_method == DeliveryMethod.ONLINE:
            # Published for the applicant to download: that is the return of the result.
            self._note(SlipAction.RESULT_PUBLISHED, actor=SYSTEM_ACTOR)
        else:
            await self._hold_at_desk(Stage.DELIVERY, due_at=self._due_at)
            await self._await_action()
        await self._finish(StatusCode.RESULT_RETURNED, self._outcome)

    # ---- tasks and the control slip --------------------------------------------------------

    async def _hold_at_desk(self, stage: Stage, due_at: datetime | None) -> None:
        self._stage = stage
        self._task = desk_task(self._input.procedure, stage, workflow.now(), due_at)
        self._note(SlipAction.STEP_STARTED, actor=SYSTEM_ACTOR)
        await self._record()

    async def _start_step(self, step: StepSpec) -> None:
        now = workflow.now()
        self._task = Task(
            step_key=step.key,
            step_name=step.name,
            department=step.department,
            role=step.role,
            started_at=now,
            due_at=self._calendar.add_working_hours(now, step.hours),
        )
        self._note(SlipAction.STEP_STARTED, actor=SYSTEM_ACTOR)
        await self._record()

    async def _await_action(self) -> ActionRequest:
        """Wait for an official's action on the current task, noting on the slip when the task
        passes its due time. The action closes the task at once (before anything else is
        awaited), so no second action can be accepted for the same task."""
        task = self._task
        assert task is not None
        self._answer_officials()
        if task.due_at is not None:
            try:
                await workflow.wait_condition(
                    self._woken, timeout=max(task.due_at - workflow.now(), timedelta(0))
                )
            except TimeoutError:
                self._note(SlipAction.STEP_OVERDUE, actor=SYSTEM_ACTOR)
                await self._record()
        await workflow.wait_condition(self._woken)
        if self._pending is None:
            raise _WithdrawalRequested
        request = self._take_pending()
        self._note(
            request.action,
            actor=request.actor.username,
            note=request.note,
            timeliness=_timeliness(workflow.now(), task.due_at),
        )
        self._task = None
        return request

    def _woken(self) -> bool:
        """An official acted, or the applicant asked to withdraw (while that is not yet being
        handled)."""
        return self._pending is not None or (self._withdrawal is not None and not self._stopping)

    def _answer_officials(self) -> None:
        """The dossier is about to wait for its next input: the updates of the actions that
        led here may now return, showing the state the dossier settled in."""
        self._tickets_answered = self._tickets_taken

    def _take_pending(self) -> ActionRequest:
        request = self._pending
        assert request is not None
        self._pending = None
        self._tickets_taken += 1
        return request

    async def _finish(self, status: StatusCode, outcome: Outcome) -> None:
        self._status, self._stage, self._outcome, self._task = status, Stage.DONE, outcome, None
        self._finished_at = workflow.now()
        await self._record()

    def _note(
        self,
        action: str,
        *,
        actor: str,
        note: str | None = None,
        timeliness: str | None = None,
    ) -> None:
        task = self._task
        entry = SlipEntry(
            seq=len(self._history) + 1,
            step_key=task.step_key if task else str(self._stage),
            department=task.department if task else self._input.procedure.desk_department,
            actor=actor,
            action=str(action),
            at=workflow.now(),
            note=note,
            timeliness=timeliness,
        )
        self._history.append(entry)
        self._unrecorded.append(entry)

    async def _record(self) -> None:
        """Write the current state and the new slip entries to the read model, and update the
        search attributes."""
        self._record_seq += 1
        entries, self._unrecorded = self._unrecorded, []
        task = self._task
        self._upsert_search_attributes()
        workflow.set_current_details(self._current_details())
        await workflow.execute_local_activity_method(
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
            ),
            start_to_close_timeout=_ACTIVITY_TIMEOUT,
            retry_policy=_ACTIVITY_RETRY,
        )
        workflow.logger.info(
            "dossier transition",
            extra={"stage": str(self._stage), "status_code": int(self._status)},
        )

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
            raise ApplicationError(
                f"unknown action {request.action!r}", type=ACTION_NOT_ALLOWED, non_retryable=True
            ) from None
        task = self._task
        if self._pending is not None or task is None:
            raise ApplicationError(
                f"dossier {self._input.code} is not waiting for an action (stage {self._stage})",
                type=ACTION_NOT_ALLOWED,
                non_retryable=True,
            )
        if self._withdrawal is not None and not self._stopping:
            raise ApplicationError(
                f"the applicant's withdrawal of dossier {self._input.code} is being taken up: "
                "look at the dossier again in a moment",
                type=ACTION_NOT_ALLOWED,
                non_retryable=True,
            )
        if self._stopping:
            if action != Action.CONFIRM_WITHDRAWAL:
                raise ApplicationError(
                    f"{action} does not fit dossier {self._input.code}: the applicant asked to "
                    "withdraw it; only confirm_withdrawal is accepted",
                    type=ACTION_NOT_ALLOWED,
                    non_retryable=True,
                )
        elif action == Action.CONFIRM_WITHDRAWAL:
            raise ApplicationError(
                f"{action} does not fit dossier {self._input.code}: the applicant has not asked "
                "to withdraw it",
                type=ACTION_NOT_ALLOWED,
                non_retryable=True,
            )
        elif action not in ACTIONS_BY_STAGE.get(self._stage, frozenset()):
            raise ApplicationError(
                f"{action} does not fit dossier {self._input.code}: it is at step "
                f"{task.step_key} ({self._stage})",
                type=ACTION_NOT_ALLOWED,
                non_retryable=True,
            )
        if action == Action.RETURN and self._step_index == 0:
            raise ApplicationError(
                f"step {task.step_key} is the first review step: there is none to return to",
                type=ACTION_NOT_ALLOWED,
                non_retryable=True,
            )
        if action == Action.CONFIRM_PAYMENT and pays_through_gateway(
            self._input.procedure.level, self._input.channel
        ):
            raise ApplicationError(
                f"dossier {self._input.code} is paid online through the payment gateway",
                type=ACTION_NOT_ALLOWED,
                non_retryable=True,
            )
        if request.step_key is not None and request.step_key != task.step_key:
            raise ApplicationError(
                f"stale action: dossier {self._input.code} has moved from step "
                f"{request.step_key} to {task.step_key}",
                type=ACTION_NOT_ALLOWED,
                non_retryable=True,
            )
        if (request.actor.department, request.actor.role) != (task.department, task.role):
            raise ApplicationError(
                f"step {task.step_key} belongs to department {task.department}, role {task.role}",
                type=NOT_YOUR_STEP,
                non_retryable=True,
            )
        if action in ACTIONS_NEEDING_REASON and not (request.note and request.note.strip()):
            raise ApplicationError(
                f"{action} needs a reason in `note`", type=REASON_REQUIRED, non_retryable=True
            )

    @workflow.update
    async def request_withdrawal(self, request: WithdrawalRequest) -> ActionResult:
        self._check_withdrawal()
        self._withdrawal = request
        await self._until_answered()
        if not self._stopping:
            self._withdrawal = None
            raise ApplicationError(
                f"dossier {self._input.code} was processed before its withdrawal could stop it",
                type=ACTION_NOT_ALLOWED,
                non_retryable=True,
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
        raise ApplicationError(
            f"dossier {self._input.code} cannot be withdrawn: {problem}",
            type=ACTION_NOT_ALLOWED,
            non_retryable=True,
        )

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
        )

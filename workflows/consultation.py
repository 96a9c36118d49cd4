"""One department's opinion for a review step (liên thông): a child of the dossier's workflow,
so the departments asked answer in parallel, each within its own allotted working time."""

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.dossier_activities import ConsultationRecord, DossierActivities
    from workflows.messages import (
        ACTION_NOT_ALLOWED,
        NOT_YOUR_STEP,
        REASON_REQUIRED,
        ConsultationAnswer,
        ConsultationInput,
        ConsultationOutcome,
    )

from workflows.run_version import RunVersion


@workflow.defn
class ConsultationWorkflow:
    @workflow.init
    def __init__(self, input: ConsultationInput) -> None:
        self._version = RunVersion.decide()
        self._input = input
        self._answer: ConsultationAnswer | None = None
        self._closed = False  # answered, out of time, or cancelled: no answer is taken now

    @workflow.run
    async def run(self, input: ConsultationInput) -> ConsultationOutcome:
        await self._record("open")
        try:
            await workflow.wait_condition(
                lambda: self._answer is not None,
                timeout=max(input.due_at - workflow.now(), timedelta(0)),
            )
        except TimeoutError:
            pass  # (an answer accepted together with the timeout still counts, below)
        except asyncio.CancelledError:
            # The dossier stopped (withdrawn) before the department answered.
            self._closed = True
            await self._record("cancelled")
            raise
        self._closed = True
        answer = self._answer
        if answer is None:
            await self._record("unanswered")
            return ConsultationOutcome(input.department)
        await self._record("answered")
        return ConsultationOutcome(input.department, answer.actor.username, answer.opinion)

    async def _record(self, status: str) -> None:
        answer = self._answer
        await self._version.write(
            DossierActivities.record_consultation,
            ConsultationRecord(
                id=workflow.info().workflow_id,
                input=self._input,
                status=status,
                answered_by=answer.actor.username if answer else None,
                opinion=answer.opinion if answer else None,
                at=workflow.now(),
            ),
        )

    @workflow.update
    async def answer(self, answer: ConsultationAnswer) -> None:
        self._check_answer(answer)
        self._answer = answer

    @answer.validator
    def _validate_answer(self, answer: ConsultationAnswer) -> None:
        self._check_answer(answer)

    def _check_answer(self, answer: ConsultationAnswer) -> None:
        input = self._input
        if self._closed and self._answer is None:
            raise ApplicationError(
                f"the time for department {input.department} to answer has run out",
                type=ACTION_NOT_ALLOWED,
                non_retryable=True,
            )
        if self._answer is not None:
            raise ApplicationError(
                f"department {input.department} has already answered",
                type=ACTION_NOT_ALLOWED,
                non_retryable=True,
            )
        if (answer.actor.department, answer.actor.role) != (input.department, input.role):
            raise ApplicationError(
                f"this consultation is for department {input.department}, role {input.role}",
                type=NOT_YOUR_STEP,
                non_retryable=True,
            )
        if not answer.opinion.strip():
            raise ApplicationError(
                "an opinion needs some text", type=REASON_REQUIRED, non_retryable=True
            )

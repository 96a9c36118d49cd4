""" "Which step, which department, and when is it due?"

The workflow is the source of truth; where an answer comes from, and as of when, it says:

- final: the dossier is finished, and its read-model record is complete;
- recorded: the read model, when the engine shows it holds the workflow's own state — the
  workflow published the number of its latest transition (search attribute `TransitionSeq`),
  the read model has written that transition, and nothing is in flight (no workflow task, no
  activity) that could change the state before the next one. Asking the engine costs the
  worker nothing, where a query of a dossier out of the worker's cache replays its history;
- live: the workflow's `state` query, when that cannot be shown (a transition in flight, a
  run started before `TransitionSeq`);
- snapshot: the read model, when the workflow could not answer within the budget (worker down
  or overloaded).
"""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import (
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
)
from temporalio.service import RPCError

from api.access import is_desk
from api.context import AppContext
from api.metrics import LOOKUPS
from api.schemas import ApplicantPublic, DossierPublic, HistoryEntry, StepPublic
from api.security import TokenClaims
from domain.dossier import DossierState, SlipEntry, Task
from domain.privacy import NOTES_FOR_THE_APPLICANT, mask, mask_email
from motcua.codec import RefusedPayloadError
from store import dossiers as repo
from store.db import release_connection
from store.models import Dossier, SlipEntryRow
from workflows import search_attributes as sa
from workflows.dossier import DossierWorkflow

log = structlog.get_logger()


def step_public(task: Task | None) -> StepPublic | None:
    if task is None:
        return None
    return StepPublic(
        key=task.step_key,
        name=task.step_name,
        department=task.department,
        role=task.role,
        assignee=task.assignee,
        started_at=task.started_at,
        due_at=task.due_at,
    )


def current_task(dossier: Dossier) -> Task | None:
    """The step the read model says holds the dossier."""
    if not (dossier.step_key and dossier.department and dossier.role and dossier.step_started_at):
        return None
    return Task(
        step_key=dossier.step_key,
        step_name=dossier.step_name or dossier.step_key,
        department=dossier.department,
        role=dossier.role,
        started_at=dossier.step_started_at,
        due_at=dossier.step_due_at,
        assignee=dossier.assignee,
    )


def applicant_public(applicant: dict[str, Any], whole: bool) -> ApplicantPublic:
    """The applicant as a reader sees them: whole for the desk, masked for anyone else."""
    id_number, phone = str(applicant.get("id_number", "")), str(applicant.get("phone", ""))
    email = applicant.get("email")
    return ApplicantPublic(
        kind=str(applicant.get("kind", "")),
        full_name=str(applicant.get("full_name", "")),
        id_number=id_number if whole else mask(id_number, 3, 2),
        phone=phone if whole else mask(phone, 3, 3),
        email=(email if whole else mask_email(email)) if email else None,
        address=str(applicant.get("address", "")),
    )


def _public(
    state: DossierState,
    source: str,
    now: datetime,
    applicant: ApplicantPublic,
    for_applicant: bool,
) -> DossierPublic:
    overdue = (state.finished_at or now) > state.due_at
    return DossierPublic(
        code=state.code,
        procedure_code=state.procedure_code,
        status_code=state.status_code,
        stage=state.stage,  # type: ignore[arg-type]
        outcome=state.outcome,
        current_step=step_public(state.current_task),
        applicant=applicant,
        received_at=state.received_at,
        due_at=state.due_at,
        finished_at=state.finished_at,
        overdue=overdue,
        late=overdue or state.supplement_requests > 1,
        supplement_requests=state.supplement_requests,
        supplement_hours=round(state.supplement_hours, 2),
        history=[
            HistoryEntry(
                step=e.step_key,
                department=e.department,
                action=e.action,
                actor=e.actor,
                at=e.at,
                note=e.note if not for_applicant or e.action in NOTES_FOR_THE_APPLICANT else None,
                timeliness=e.timeliness,
            )
            for e in state.history
        ],
        source=source,  # type: ignore[arg-type]
        as_of=now,
    )


def recorded_state(dossier: Dossier, entries: list[SlipEntryRow]) -> DossierState:
    """The dossier as the read model records it."""
    return DossierState(
        code=dossier.code,
        procedure_code=dossier.procedure_code,
        status_code=dossier.status_code,
        stage=dossier.stage,
        outcome=dossier.outcome,
        current_task=current_task(dossier),
        received_at=dossier.received_at,
        due_at=dossier.due_at,
        finished_at=dossier.finished_at,
        history=[
            SlipEntry(
                seq=e.seq,
                step_key=e.step_key,
                department=e.department,
                actor=e.actor,
                action=e.action,
                at=e.at,
                note=e.note,
                timeliness=e.timeliness,
            )
            for e in entries
        ],
        supplement_requests=dossier.supplement_requests,
        supplement_hours=dossier.supplement_hours,
    )


def _holds_the_workflows_state(dossier: Dossier, described: WorkflowExecutionDescription) -> bool:
    """Whether the read model's record of `dossier`, read before the engine described its
    workflow, is the workflow's own state.

    The workflow publishes transition N's number (the search attribute) in the same workflow
    task that schedules N's write, so before the write. If the description shows N published
    and nothing in flight, no transition after N had begun when it was made; the record, read
    before it and showing N written, is then exactly N. (Had N+1 been written between the
    row's read and the slip's, the engine would publish N+1, not N.)"""
    published = described.typed_search_attributes.get(sa.TRANSITION_SEQ)
    raw = described.raw_description
    in_flight = raw.HasField("pending_workflow_task") or len(raw.pending_activities) > 0
    return (
        described.status == WorkflowExecutionStatus.RUNNING
        and not in_flight
        and published is not None
        and dossier.last_seq == published
    )


async def dossier_status(
    ctx: AppContext, session: AsyncSession, dossier: Dossier, viewer: TokenClaims | None
) -> DossierPublic:
    """The dossier as `viewer` may see it (None: the applicant, by the lookup key)."""
    whole = viewer is not None and await is_desk(ctx, session, dossier, viewer)
    applicant = applicant_public(dossier.applicant, whole)
    for_applicant = viewer is None
    # The record, read before the engine is asked (see _holds_the_workflows_state); then the
    # connection goes back to the pool while the engine answers.
    recorded = recorded_state(dossier, await repo.slip_entries(session, dossier.code))
    read_at = datetime.now(UTC)
    await release_connection(session)
    if dossier.finished_at is not None:
        # The workflow's last act was to record its final state: the record is complete, and
        # reading it spares the worker a replay of a closed workflow's history.
        LOOKUPS.labels("final").inc()
        return _public(recorded, "final", read_at, applicant, for_applicant)
    budget = timedelta(milliseconds=ctx.settings.query_budget_ms)
    handle = ctx.temporal.get_workflow_handle(dossier.code)
    try:
        async with asyncio.timeout(budget.total_seconds()):  # for both calls together
            # Describing a workflow is answered by the engine alone; querying it needs the
            # worker. The record is current as of the description, made after this moment.
            as_of = datetime.now(UTC)
            described = await handle.describe(rpc_timeout=budget)
            if _holds_the_workflows_state(dossier, described):
                state, source = recorded, "recorded"
            else:
                state = await handle.query(DossierWorkflow.state, rpc_timeout=budget)
                as_of, source = datetime.now(UTC), "live"
    # RefusedPayloadError: an answer this API cannot open (the worker sealed it with a key
    # the API does not hold yet, mid-rotation): the record still answers.
    except (TimeoutError, RPCError, WorkflowQueryFailedError, RefusedPayloadError) as exc:
        log.warning("status from snapshot", dossier_code=dossier.code, reason=type(exc).__name__)
        state, as_of, source = recorded, read_at, "snapshot"
    LOOKUPS.labels(source).inc()
    return _public(state, source, as_of, applicant, for_applicant)

"""What officials have to do: their open tasks, the consultations put to their department,
and what they were alerted to (reminders, late steps, apologies due)."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from api import operations
from api.deps import ContextDep, OfficialDep, SessionDep
from api.schemas import AlertPublic, ConsultationAnswerIn, ConsultationPublic, TaskPublic
from api.status import current_task, step_public
from store import dossiers as repo

router = APIRouter(prefix="/api/v1", tags=["officials"])

Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


@router.get("/tasks", response_model=list[TaskPublic])
async def my_tasks(
    official: OfficialDep, session: SessionDep, limit: Limit = 50, offset: Offset = 0
) -> list[TaskPublic]:
    """Open tasks of the caller's department and role (those not handed to someone else),
    most urgent first (from the read model)."""
    now = datetime.now(UTC)
    rows = await repo.open_tasks(
        session, official.department, official.role, official.username, limit, offset
    )
    return [
        TaskPublic(
            code=d.code,
            procedure_code=d.procedure_code,
            status_code=d.status_code,
            step=step,
            received_at=d.received_at,
            due_at=d.due_at,
            overdue=d.step_due_at is not None and d.step_due_at < now,
        )
        for d in rows
        if (step := step_public(current_task(d))) is not None
    ]


@router.get("/consultations", response_model=list[ConsultationPublic])
async def my_consultations(
    official: OfficialDep,
    session: SessionDep,
    open_only: Annotated[bool, Query(alias="open")] = True,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[ConsultationPublic]:
    """Opinions asked of the caller's department and role, the most urgent first."""
    rows = await repo.consultations_for(
        session, official.department, official.role, open_only, limit, offset
    )
    return [ConsultationPublic.model_validate(row, from_attributes=True) for row in rows]


@router.post(
    "/consultations/{consultation_id}/answer",
    response_model=ConsultationPublic,
    responses={401: {}, 403: {}, 404: {}, 409: {}, 503: {}},
)
async def answer(
    consultation_id: str,
    body: ConsultationAnswerIn,
    request: Request,
    official: OfficialDep,
    ctx: ContextDep,
    session: SessionDep,
) -> ConsultationPublic:
    """The consulted department's opinion; the step that asked goes on once every department
    answered or ran out of time."""
    consultation = await operations.answer(
        ctx, session, request, consultation_id, official, body.opinion
    )
    public = ConsultationPublic.model_validate(consultation, from_attributes=True)
    return public.model_copy(
        update={"status": "answered", "answered_by": official.username, "opinion": body.opinion}
    )


@router.get("/alerts", response_model=list[AlertPublic])
async def my_alerts(
    official: OfficialDep, session: SessionDep, limit: Limit = 50, offset: Offset = 0
) -> list[AlertPublic]:
    """Reminders, late steps and apologies due for the caller's department and role (or handed
    to the caller), newest first."""
    rows = await repo.alerts_for(
        session, official.department, official.role, official.username, limit, offset
    )
    return [
        AlertPublic(dossier_code=a.dossier_code, kind=a.kind, message=a.message, at=a.created_at)  # type: ignore[arg-type]
        for a in rows
    ]

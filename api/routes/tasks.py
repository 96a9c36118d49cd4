from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import OfficialDep, SessionDep
from api.schemas import StepPublic, TaskPublic
from store import dossiers as repo

router = APIRouter(prefix="/api/v1/tasks", tags=["officials"])


@router.get("", response_model=list[TaskPublic])
async def my_tasks(
    official: OfficialDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[TaskPublic]:
    """Open tasks of the caller's department and role, most urgent first (from the read model)."""
    now = datetime.now(UTC)
    rows = await repo.open_tasks(session, official.department, official.role, limit, offset)
    return [
        TaskPublic(
            code=d.code,
            procedure_code=d.procedure_code,
            status_code=d.status_code,
            step=StepPublic(
                key=d.step_key or "",
                name=d.step_name or "",
                department=d.department or "",
                role=d.role or "",
                started_at=d.step_started_at or d.received_at,
                due_at=d.step_due_at,
            ),
            received_at=d.received_at,
            due_at=d.due_at,
            overdue=d.step_due_at is not None and d.step_due_at < now,
        )
        for d in rows
    ]

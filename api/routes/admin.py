"""Operators' view of the running dossiers, from the read model: the late and the stuck, by
department, each with a link to its workflow in the Temporal Web UI."""

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query

from api.deps import ContextDep, OperatorDep, SessionDep
from api.schemas import PaymentAttention, RunningDossier
from store import dossiers as repo
from store import payments

router = APIRouter(prefix="/api/v1/admin", tags=["operators"])


@router.get("/dossiers", response_model=list[RunningDossier], responses={401: {}, 403: {}})
async def running_dossiers(
    operator: OperatorDep,
    ctx: ContextDep,
    session: SessionDep,
    overdue: Annotated[bool, Query(description="Only those past their appointment")] = False,
    department: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[RunningDossier]:
    """Dossiers still being processed, the earliest appointment first."""
    now = datetime.now(UTC)
    rows = await repo.running_dossiers(session, department, now if overdue else None, limit, offset)
    ui, namespace = ctx.settings.temporal_ui_url, ctx.settings.temporal_namespace
    return [
        RunningDossier(
            code=d.code,
            procedure_code=d.procedure_code,
            status_code=d.status_code,
            stage=d.stage,
            department=d.department,
            step_name=d.step_name,
            step_due_at=d.step_due_at,
            due_at=d.due_at,
            overdue=d.due_at < now,
            temporal_url=f"{ui}/namespaces/{quote(namespace)}/workflows/{quote(d.code)}",
        )
        for d in rows
    ]


@router.get("/payments", response_model=list[PaymentAttention], responses={401: {}, 403: {}})
async def payments_needing_attention(
    operator: OperatorDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[PaymentAttention]:
    """Money taken that is owed back (refund, or reconciliation with the gateway), the latest
    first: wrong amounts, fees paid twice, fees paid for dossiers no longer waiting for them.
    The desk of each dossier is told too, in its officials' alerts."""
    attempts = await payments.attempts_needing_attention(session, limit)
    fees = await payments.fees_to_refund(session, limit)
    listed = [
        PaymentAttention(
            dossier_code=a.dossier_code,
            status=a.status,
            fee_vnd=a.amount_vnd,
            paid_vnd=a.paid_amount_vnd,
            txn_ref=a.txn_ref,
            transaction_no=a.transaction_no,
            at=a.settled_at,
        )
        for a in attempts
    ] + [
        PaymentAttention(
            dossier_code=p.dossier_code,
            status=p.status,
            fee_vnd=p.amount_vnd,
            paid_vnd=p.amount_vnd if p.paid_at else None,
            txn_ref=None,
            transaction_no=p.payment_id,
            at=p.paid_at,
        )
        for p in fees
    ]
    return listed[:limit]

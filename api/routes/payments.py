"""The payment gateway's signed callback. Verified, deduplicated by event id, then forwarded to
the dossier's workflow as a signal — in one transaction, so a failed signal is retried by the
gateway instead of being lost."""

import hmac
import re
import time

import structlog
from fastapi import APIRouter, Header, HTTPException, Request, status
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.service import RPCError, RPCStatusCode

from api.audit import entry_by
from api.context import AppContext
from api.deps import ContextDep, SessionDep
from api.errors import problem
from api.schemas import GatewayCallback
from api.security import gateway_signature
from domain.dossier import StatusCode
from motcua.logging import bound_request_id
from store import dossiers as repo
from store.audit import append
from workflows.dossier import DossierWorkflow
from workflows.messages import PaymentConfirmation

router = APIRouter(prefix="/api/v1/payments", tags=["payments"])
log = structlog.get_logger()

_WINDOW_SECONDS = 300


async def _reject(ctx: AppContext, request: Request, detail: str) -> HTTPException:
    """A callback that cannot be the gateway's changes nothing; it is logged and kept in the
    audit trail (with no dossier: nothing in it can be trusted)."""
    log.warning("payment callback rejected", reason=detail)
    reason = {"reason": detail}
    refused = entry_by(request, "gateway?", "gateway", "payment_callback_refused", None, reason)
    await append(ctx.sessionmaker, refused)
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail)


@router.post("/callback", responses={401: {}, 404: {}, 422: {}, 503: {}})
async def gateway_callback(
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    timestamp: str = Header(alias="X-Gateway-Timestamp", max_length=20),
    signature: str = Header(alias="X-Gateway-Signature", max_length=128),
) -> dict[str, str]:
    raw = await request.body()
    if (
        not re.fullmatch(r"[0-9]{1,12}", timestamp)
        or abs(time.time() - int(timestamp)) > _WINDOW_SECONDS
    ):
        raise await _reject(ctx, request, "timestamp outside the 5-minute window")
    secret = ctx.settings.payment_callback_secret.get_secret_value()
    expected = gateway_signature(secret, timestamp, raw).encode()
    if not hmac.compare_digest(signature.encode(), expected):
        raise await _reject(ctx, request, "bad signature")
    try:
        event = GatewayCallback.model_validate_json(raw)
    except ValidationError as exc:
        problems = [problem(e["msg"], *e["loc"]) for e in exc.errors()]
        raise HTTPException(422, detail=problems) from exc

    request.state.dossier_code = event.merchant_ref  # for the request's log line
    outcome = await _apply(ctx, session, event)
    detail = {"event_id": event.event_id, "status": event.status, "outcome": outcome}
    audit = entry_by(request, "gateway", "gateway", "payment_callback", event.merchant_ref, detail)
    await append(ctx.sessionmaker, audit)
    return {"status": outcome}


async def _apply(ctx: AppContext, session: AsyncSession, event: GatewayCallback) -> str:
    """What a verified callback does: "accepted", "duplicate" or "not_applied"."""
    payment = await repo.get_payment(session, event.merchant_ref)
    if payment is None or payment.payment_id != event.payment_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such payment")
    if not await repo.first_time_event(session, event.event_id, event.payment_id):
        log.info("payment callback replayed", event_id=event.event_id)
        return "duplicate"
    dossier = await repo.get_dossier(session, event.merchant_ref)
    withdrawn = dossier is not None and dossier.status_code in (
        StatusCode.WITHDRAWAL_REQUESTED,
        StatusCode.STOPPED,
    )
    if event.status == "paid" and (withdrawn or payment.status == "cancelled"):
        # Paid for a dossier the applicant withdrew: the money is owed back.
        await repo.set_payment_status(session, event.payment_id, "refund_due", event.paid_at)
        await session.commit()
        log.error("payment for a withdrawn dossier: refund due", dossier_code=event.merchant_ref)
        return "not_applied"
    if event.status == "paid" and event.amount_vnd != payment.amount_vnd:
        # Not what was asked: never moves the dossier on; the difference is settled by hand.
        await repo.set_payment_status(session, event.payment_id, "amount_mismatch")
        await session.commit()
        log.error("payment amount differs from the fee", dossier_code=event.merchant_ref)
        return "not_applied"
    if event.status == "paid":
        await repo.set_payment_status(session, event.payment_id, "paid", event.paid_at)
        try:
            await ctx.temporal.get_workflow_handle(event.merchant_ref).signal(
                DossierWorkflow.payment_confirmed,
                PaymentConfirmation(
                    event.payment_id, event.amount_vnd, event.paid_at, bound_request_id()
                ),
            )
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                await session.rollback()
                raise HTTPException(
                    status.HTTP_503_SERVICE_UNAVAILABLE, detail="retry later: engine unavailable"
                ) from exc
            # The dossier is finished: the money is ours to give back, and the gateway must
            # not retry forever.
            await repo.set_payment_status(session, event.payment_id, "refund_due")
            await session.commit()
            log.error("payment for a finished dossier: refund due", dossier_code=event.merchant_ref)
            return "not_applied"
    await session.commit()
    log.info("payment callback applied", dossier_code=event.merchant_ref, status=event.status)
    return "accepted"

"""VNPAY's three doors into the API (protocol: activities/vnpay.py).

- The applicant's pay link: opens an attempt (or takes the one still payable) and goes on to
  its signed VNPAY URL. After a failed attempt, or one paid with the wrong amount, the same
  link opens a new one: that is how the applicant pays again.
- The IPN: VNPAY's server-to-server answer, the only one that settles an attempt (with the
  reconciliation's querydr, through the same path: activities/payment_settlement.py).
- The return: the applicant's browser coming back. Signed too, but never trusted to settle
  anything (a browser can be made to come back with anything): it goes on to the dossier's page.
"""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

import structlog
from fastapi import APIRouter, HTTPException, Path, Request, status
from fastapi.responses import RedirectResponse

from activities.payment_settlement import RSP_CODES, EngineUnavailable, pay_attempt, settle
from activities.vnpay import VnpayAccount, VnpayGateway, ipn_outcome, pay_url, verify, vnp_time
from api.audit import entry_by
from api.deps import ContextDep, SessionDep
from store import dossiers as dossiers_repo
from store import payments as repo
from store.audit import append
from store.models import PaymentAttempt

router = APIRouter(prefix="/api/v1/payments", tags=["payments"])
log = structlog.get_logger()

# A VNPAY pay URL is valid this long; one with less than the margin left is not handed out.
# Following the link in a loop therefore opens at most one attempt per ten minutes (the link
# carries no secret, so no cap on attempts either: a stranger would use it up and keep the
# applicant from paying online).
PAY_URL_LIFETIME = timedelta(minutes=15)
_MARGIN = timedelta(minutes=5)

DossierCode = Annotated[str, Path(min_length=1, max_length=64)]


def _dossier_page(ctx_base_url: str, code: str) -> str:
    return f"{ctx_base_url.rstrip('/')}/ho-so/{quote(code, safe='')}"


@router.get("/{code}/pay", status_code=303, responses={303: {}, 404: {}})
async def pay(code: DossierCode, request: Request, ctx: ContextDep, session: SessionDep) -> Any:
    """The applicant's pay link: on to VNPAY to pay the fee (a new attempt when the last one
    cannot be paid any more), or to the dossier's page when there is nothing left to pay."""
    payment = await repo.lock_payment(session, code)
    if payment is None or not payment.payment_id.startswith(VnpayGateway.PREFIX):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no online payment for this dossier")
    base_url = ctx.settings.public_base_url
    if payment.status != "pending":
        return RedirectResponse(_dossier_page(base_url, code), status_code=303)
    now = datetime.now(UTC)
    attempt = await repo.latest_attempt(session, code)
    reusable = (
        attempt is not None
        and attempt.status == "pending"
        and attempt.expire_date > vnp_time(now + _MARGIN)  # both yyyyMMddHHmmss: in order
    )
    if not reusable:
        number = attempt.attempt + 1 if attempt is not None else 1
        dossier = await dossiers_repo.get_dossier(session, code)
        assert dossier is not None
        catalog = await ctx.pinned_catalog(session, dossier.catalog_version)
        procedure = catalog.snapshot(dossier.procedure_code)
        attempt = PaymentAttempt(
            txn_ref=f"{code}-{number}",
            dossier_code=code,
            attempt=number,
            amount_vnd=payment.amount_vnd,
            status="pending",
            client_ip=request.client.host if request.client else "127.0.0.1",
            create_date=vnp_time(now),
            expire_date=vnp_time(now + PAY_URL_LIFETIME),
            desk_department=procedure.desk_department,
            desk_role=procedure.desk_role,
        )
        session.add(attempt)
        log.info("payment attempt opened", dossier_code=code, txn_ref=attempt.txn_ref)
    assert attempt is not None
    await session.commit()
    return_url = f"{base_url.rstrip('/')}/api/v1/payments/vnpay/return"
    url = pay_url(VnpayAccount.of(ctx.settings), pay_attempt(attempt), return_url)
    return RedirectResponse(url, status_code=303)


@router.get("/vnpay/ipn")
async def ipn(request: Request, ctx: ContextDep) -> dict[str, str]:
    """VNPAY's IPN: verified, settled once, answered as VNPAY's protocol asks (RspCode)."""
    params = dict(request.query_params)
    account = VnpayAccount.of(ctx.settings)
    if not verify(account.hash_secret, params):
        log.warning("vnpay ipn rejected", reason="bad signature", txn_ref=params.get("vnp_TxnRef"))
        detail = {"reason": "bad signature", "txn_ref": params.get("vnp_TxnRef")}
        refused = entry_by(request, "vnpay?", "gateway", "payment_callback_refused", None, detail)
        await append(ctx.sessionmaker, refused)
        return {"RspCode": "97", "Message": "Invalid signature"}
    try:
        outcome = ipn_outcome(params)
    except ValueError as exc:
        log.warning("vnpay ipn rejected", reason=str(exc))
        return {"RspCode": "99", "Message": "Input data required"}
    client = request.client.host if request.client else None
    try:
        settled = await settle(ctx.sessionmaker, ctx.temporal, outcome, "ipn", client)
    except EngineUnavailable:
        # Nothing changed: VNPAY sends the IPN again, or the reconciliation asks.
        log.warning("vnpay ipn not applied: engine unavailable", txn_ref=outcome.txn_ref)
        return {"RspCode": "99", "Message": "Unknown error"}
    rsp_code, message = RSP_CODES[settled]
    return {"RspCode": rsp_code, "Message": message}


@router.get("/vnpay/return", status_code=303, responses={303: {}, 400: {}, 404: {}})
async def return_from_vnpay(request: Request, ctx: ContextDep, session: SessionDep) -> Any:
    """The applicant back from VNPAY: to the dossier's page, which says whether the fee is
    paid (the IPN's doing, not this request's)."""
    params = dict(request.query_params)
    if not verify(VnpayAccount.of(ctx.settings).hash_secret, params):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="bad signature")
    attempt = await session.get(PaymentAttempt, params.get("vnp_TxnRef", ""))
    if attempt is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such payment attempt")
    log.info(
        "applicant back from vnpay",
        dossier_code=attempt.dossier_code,
        txn_ref=attempt.txn_ref,
        response_code=params.get("vnp_ResponseCode"),
    )
    page = _dossier_page(ctx.settings.public_base_url, attempt.dossier_code)
    return RedirectResponse(page, status_code=303)

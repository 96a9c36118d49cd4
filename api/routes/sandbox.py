"""The sandbox payment gateway of the embedded stack. It plays the external gateway's part: a
pay page, its own book, and a signed callback to our API — the same path a real gateway takes."""

import html
import json
import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, Response

from activities.payment_gateway import SandboxGateway
from api.context import AppContext
from api.deps import ContextDep
from api.security import gateway_signature
from store.models import SandboxGatewayPayment

router = APIRouter(prefix="/sandbox", tags=["sandbox gateway"])

PaymentId = Annotated[str, Path(pattern=r"^SBX-[0-9A-F]{16}$")]


def _gateway(ctx: AppContext) -> SandboxGateway:
    return SandboxGateway(ctx.sessionmaker, ctx.settings.public_base_url)


def _found(payment: SandboxGatewayPayment | None) -> SandboxGatewayPayment:
    if payment is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such sandbox payment")
    return payment


@router.get("/pay/{payment_id}", response_class=HTMLResponse)
async def pay_page(payment_id: PaymentId, ctx: ContextDep) -> HTMLResponse:
    payment = _found(await _gateway(ctx).find(payment_id))
    ref, amount = html.escape(payment.merchant_ref), f"{payment.amount_vnd:,}".replace(",", ".")
    button = (
        "<p>Đã thanh toán.</p>"
        if payment.status == "paid"
        else '<form method="post"><button type="submit">Thanh toán</button></form>'
    )
    return HTMLResponse(
        f"<!doctype html><html lang='vi'><meta charset='utf-8'><title>Sandbox gateway</title>"
        f"<h1>Cổng thanh toán (sandbox)</h1><p>Hồ sơ <b>{ref}</b>: {amount} VND</p>{button}"
    )


@router.post("/pay/{payment_id}")
async def pay(payment_id: PaymentId, request: Request, ctx: ContextDep) -> Response:
    """Pay, then notify the agency by a signed callback, as a real gateway would."""
    payment = _found(await _gateway(ctx).pay(payment_id))
    assert payment.paid_at is not None
    body = json.dumps(
        {
            # One event per payment: pressing "pay" again re-sends the same event.
            "event_id": f"{payment_id}:paid",
            "payment_id": payment_id,
            "merchant_ref": payment.merchant_ref,
            "amount_vnd": payment.amount_vnd,
            "status": "paid",
            "paid_at": payment.paid_at.isoformat(),
        }
    ).encode()
    timestamp = str(int(time.time()))
    secret = ctx.settings.payment_callback_secret.get_secret_value()
    callback = await ctx.http.post(
        f"{ctx.settings.public_base_url.rstrip('/')}/api/v1/payments/callback",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Gateway-Timestamp": timestamp,
            "X-Gateway-Signature": gateway_signature(secret, timestamp, body),
        },
    )
    result = {"payment_id": payment_id, "status": "paid", "callback_status": callback.status_code}
    if "text/html" in request.headers.get("accept", ""):
        return HTMLResponse(
            f"<!doctype html><meta charset='utf-8'><p>Đã thanh toán hồ sơ "
            f"{html.escape(payment.merchant_ref)}.</p>"
        )
    return JSONResponse(result)

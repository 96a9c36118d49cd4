"""The sandbox payment gateway of the embedded stack. It plays the external gateway's part: a
pay page, its own book, and a signed callback to our API — the same path a real gateway takes."""

import html
import json
import time
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Path, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from activities.payment_gateway import SandboxGateway
from api.context import AppContext
from api.deps import ContextDep
from api.security import gateway_signature
from domain.catalog import vnd
from store.models import SandboxGatewayPayment

router = APIRouter(prefix="/sandbox", tags=["sandbox gateway"])

PaymentId = Annotated[str, Path(pattern=r"^SBX-[0-9A-F]{16}$")]


def _gateway(ctx: AppContext) -> SandboxGateway:
    return SandboxGateway(ctx.sessionmaker, ctx.settings.public_base_url)


def _found(payment: SandboxGatewayPayment | None) -> SandboxGatewayPayment:
    if payment is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such sandbox payment")
    return payment


# The gateway's own small page (not one of ours: no stylesheet of the agency). Its only style
# is in its head, as a gateway's would be.
_PAGE = """<!doctype html>
<html lang="vi">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — Cổng thanh toán (sandbox)</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0; color: #0b0c0c; line-height: 1.4; }}
header {{ background: #0b3d91; color: #fff; padding: 12px 16px; font-weight: 700; }}
main {{ padding: 16px; max-width: 480px; }}
dl {{ margin: 0 0 20px; }} dt {{ font-weight: 700; }} dd {{ margin: 0 0 10px; }}
.amount {{ font-size: 1.6rem; font-weight: 700; }}
button {{ font: inherit; font-weight: 700; min-height: 44px; padding: 8px 20px; border: 0;
  background: #00703c; color: #fff; cursor: pointer; }}
button:focus, a:focus {{ outline: 3px solid #ffdd00; }}
.paid {{ border: 4px solid #00703c; padding: 10px 15px; font-weight: 700; }}
a {{ color: #1d70b8; }}
</style>
</head>
<body>
<header>Cổng thanh toán (sandbox)</header>
<main>
<h1>{title}</h1>
{body}
</main>
</body>
</html>"""


def _return_url(ctx: AppContext, merchant_ref: str) -> str:
    """Where the applicant goes back to, as a real gateway's return URL: the dossier's page."""
    return f"{ctx.settings.public_base_url.rstrip('/')}/ho-so/{quote(merchant_ref, safe='')}"


@router.get("/pay/{payment_id}", response_class=HTMLResponse, responses={404: {}})
async def pay_page(payment_id: PaymentId, ctx: ContextDep) -> HTMLResponse:
    payment = _found(await _gateway(ctx).find(payment_id))
    ref, amount = html.escape(payment.merchant_ref), vnd(payment.amount_vnd)
    back = html.escape(_return_url(ctx, payment.merchant_ref))
    details = (
        f"<dl><dt>Đơn vị nhận</dt><dd>Cơ quan giải quyết hồ sơ</dd>"
        f"<dt>Nội dung</dt><dd>Phí, lệ phí hồ sơ {ref}</dd>"
        f"<dt>Số tiền</dt><dd class='amount'>{amount}</dd></dl>"
    )
    if payment.status == "paid":
        title = "Đã thanh toán"
        action = "<p class='paid'>Giao dịch đã hoàn tất.</p>"
    else:
        title = "Thanh toán phí, lệ phí"
        action = '<form method="post"><button type="submit">Thanh toán</button></form>'
    link = f"<p><a href='{back}'>Quay lại trang hồ sơ {ref}</a></p>"
    return HTMLResponse(_PAGE.format(title=title, body=details + action + link))


@router.post("/pay/{payment_id}", responses={404: {}})
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
        # A browser: to the page again (now saying it is paid, with the way back), so a reload
        # does not post twice.
        return RedirectResponse(f"/sandbox/pay/{payment_id}", status_code=303)
    return JSONResponse(result)

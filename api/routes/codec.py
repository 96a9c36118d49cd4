"""Temporal's remote codec, for operators: the Web UI (`--ui-codec-endpoint`) and the CLI
(`temporal workflow show --codec-endpoint … --codec-auth "Bearer …"`) send the encrypted
payloads here and show what they hold. Only an operator's token opens them: as a bearer
token (the CLI), or as the cookie `/codec/login` sets in the operator's browser (the Web UI,
with "Include cross-origin credentials" on in its codec settings).

There is no `/encode`: a payload only the API and the worker can seal is what stops anyone
who reaches Temporal, an operator included, from acting on a dossier as an official. A
payload the codec refuses (plain, forged, or under a key it does not hold) comes back marked
`motcua-refused` with the reason, for the operator to see."""

from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse
from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from temporalio.api.common.v1 import Payloads

from api.audit import entry
from api.deps import ContextDep, OperatorDep
from store.audit import append

router = APIRouter(prefix="/codec", tags=["operators"])

PayloadsJson = dict[str, Any]


def _payloads(body: PayloadsJson) -> Payloads:
    try:
        return ParseDict(body, Payloads())
    except ParseError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=f"not payloads: {exc}") from exc


@router.post("/decode", responses={400: {}, 401: {}, 403: {}})
async def decode(
    body: PayloadsJson, request: Request, ctx: ContextDep, operator: OperatorDep
) -> PayloadsJson:
    codec = ctx.temporal.data_converter.payload_codec
    assert codec is not None
    payloads = _payloads(body).payloads
    # An operator reading what Temporal holds is a read of (possibly) personal data.
    detail = {"payloads": len(payloads), "namespace": request.headers.get("X-Namespace")}
    await append(ctx.sessionmaker, entry(request, "decode_payloads", operator, detail=detail))
    return MessageToDict(Payloads(payloads=await codec.decode(payloads)))


_LOGIN_PAGE = """<!doctype html>
<html lang="vi"><meta charset="utf-8"><title>motcua — operators' codec login</title>
<h1>Read Temporal payloads</h1>
<p>Log in as an operator: the Temporal Web UI may then decrypt payloads through this API (turn
on <i>Include cross-origin credentials</i> in its codec settings).</p>
<form method="post" action="/api/v1/auth/token?codec_cookie=true">
  <label>Username <input name="username" autocomplete="username"></label>
  <label>Password <input name="password" type="password" autocomplete="current-password"></label>
  <button>Log in</button>
</form>
</html>"""


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
async def login_page() -> str:
    return _LOGIN_PAGE

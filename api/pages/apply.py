"""Submitting a dossier online, on one clear form: the form (`/thu-tuc/{code}/nop-ho-so`),
the check of the answers, the submission, and the receipt (`/ho-so/{code}/bien-nhan`) with the
lookup key, the appointment and a QR code of the tracking page."""

from dataclasses import dataclass
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from api import operations
from api.context import AppContext
from api.deps import ContextDep, SessionDep
from api.pages import dossier_form as df
from api.pages.dossier_view import Urls, answers_page, form_page
from api.pages.errors import http_error_page
from api.pages.guard import CsrfChecked, dossier_path, keep_lookup_key, lookup_key
from api.pages.qr import qr_svg
from api.pages.render import moment, money, page
from api.pages.texts import text
from domain.calendar import VN_TZ
from domain.catalog import Procedure
from domain.dossier import Channel, DocumentKind, pays_through_gateway
from store import dossiers as repo
from store.models import Dossier

router = APIRouter(include_in_schema=False)


def _urls(code: str) -> Urls:
    base = f"/thu-tuc/{code}/nop-ho-so"
    return Urls(check=base, edit=f"{base}/sua", send=f"{base}/gui", back=f"/thu-tuc/{code}")


def _procedure(ctx: AppContext, code: str) -> Procedure:
    procedure = ctx.catalog.procedures.get(code)
    if procedure is None:
        raise HTTPException(404, detail=text("procedure.unknown", code=code[:64]))
    return procedure


def _form(
    request: Request,
    ctx: AppContext,
    procedure: Procedure,
    draft: df.Draft,
    problems: list[df.Problem],
    status_code: int = 200,
) -> HTMLResponse:
    return form_page(
        request,
        ctx,
        "portal/submission.html",
        procedure,
        draft,
        problems,
        _urls(procedure.code),
        status_code,
    )


@router.get("/thu-tuc/{code}/nop-ho-so", response_class=HTMLResponse)
async def start(request: Request, code: str, ctx: ContextDep) -> HTMLResponse:
    return _form(request, ctx, _procedure(ctx, code), df.Draft(), [])


@router.post("/thu-tuc/{code}/nop-ho-so", response_class=HTMLResponse, dependencies=[CsrfChecked])
async def check(request: Request, code: str, ctx: ContextDep, session: SessionDep) -> HTMLResponse:
    """The form posted: files stored, everything checked; the answers to confirm, or the form
    again with what is wrong."""
    procedure = _procedure(ctx, code)
    checked = await df.read_draft(ctx, session, request, procedure, Channel.ONLINE, upload=True)
    if checked.problems:
        return _form(request, ctx, procedure, checked.draft, checked.problems, 422)
    return answers_page(request, "portal/check_answers.html", procedure, checked.draft, _urls(code))


@router.post(
    "/thu-tuc/{code}/nop-ho-so/sua", response_class=HTMLResponse, dependencies=[CsrfChecked]
)
async def edit(request: Request, code: str, ctx: ContextDep, session: SessionDep) -> HTMLResponse:
    """Back from the check-answers page to the form, with everything as it was."""
    procedure = _procedure(ctx, code)
    checked = await df.read_draft(ctx, session, request, procedure, Channel.ONLINE, upload=False)
    return _form(request, ctx, procedure, checked.draft, [])


@router.post("/thu-tuc/{code}/nop-ho-so/gui", dependencies=[CsrfChecked])
async def send(request: Request, code: str, ctx: ContextDep, session: SessionDep) -> Response:
    """The confirmed answers submitted, once: a repeated post (a double click, a reload, a
    retry) carries the same request key and finds the same dossier."""
    procedure = _procedure(ctx, code)
    checked = await df.read_draft(ctx, session, request, procedure, Channel.ONLINE, upload=False)
    if checked.body is None:
        return _form(request, ctx, procedure, checked.draft, checked.problems, 422)
    try:
        submitted = await operations.submit(
            ctx, session, request, checked.body, checked.draft.request_key
        )
    except HTTPException as exc:
        problem = df.submission_problem(exc)
        checked.draft.request_key = df.Draft().request_key  # what was refused made nothing
        return _form(request, ctx, procedure, checked.draft, [problem], exc.status_code)
    dossier_code = submitted.dossier.code
    response = RedirectResponse(f"{dossier_path(dossier_code)}/bien-nhan", status_code=303)
    keep_lookup_key(request, response, dossier_code, submitted.lookup_key)
    return response


# ---- the receipt ----------------------------------------------------------------------------


@dataclass
class Receipt:
    code: str
    key: str
    key_shown: str  # grouped by four, as read aloud or copied onto paper
    agency: str
    lookup_url: str  # where to type the code and key in, printed for those without the QR
    procedure: str
    received: str
    appointment_day: str
    appointment_time: str
    next_steps: list[str]
    document_url: str | None
    tracking_url: str
    qr: Markup | None  # of the tracking page with the key: only while the key is known


def _next_steps(ctx: AppContext, dossier: Dossier) -> list[str]:
    procedure = ctx.catalog.procedures.get(dossier.procedure_code)
    agency = ctx.catalog.agencies[dossier.agency_code]
    desk = ctx.catalog.departments[agency.desk_department].name
    steps = [
        text("receipt.next.intake", desk=desk, hours=f"{agency.intake_hours:g}"),
        text("receipt.next.notified"),
    ]
    if dossier.fee_vnd:
        level = procedure.level if procedure else "partial"
        online = pays_through_gateway(level, dossier.channel)
        fee = money(dossier.fee_vnd)
        steps.append(
            text("receipt.next.fee_online" if online else "receipt.next.fee_desk", fee=fee)
        )
    steps.append(text(f"receipt.next.delivery.{dossier.delivery['method']}", desk=desk))
    return steps


async def _receipt_url(session: AsyncSession, code: str, prefix: str) -> str | None:
    """Form 01, once the workflow has issued it (when the desk accepts the dossier)."""
    for document in await repo.documents(session, code):
        if document.kind == DocumentKind.RECEIPT:
            return f"{prefix}/{code}/tai-lieu/{document.id}"
    return None


def grouped(key: str) -> str:
    """KVLBNXMYR6VON4C6 as KVLB NXMY R6VO N4C6: easier to read out, copy and check."""
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


async def receipt_of(
    ctx: AppContext, session: AsyncSession, dossier: Dossier, key: str, document_prefix: str
) -> Receipt:
    """What a receipt shows, for the portal's page and the desk's."""
    procedure = ctx.catalog.procedures.get(dossier.procedure_code)
    due = dossier.due_at.astimezone(VN_TZ)
    base = ctx.settings.public_base_url.rstrip("/")
    tracking = f"{base}{dossier_path(dossier.code)}"
    return Receipt(
        code=dossier.code,
        key=key,
        key_shown=grouped(key),
        agency=ctx.catalog.agencies[dossier.agency_code].name,
        lookup_url=f"{base}/tra-cuu",
        procedure=procedure.name if procedure else dossier.procedure_code,
        received=moment(dossier.received_at),
        appointment_day=due.strftime("%d/%m/%Y"),
        appointment_time=due.strftime("%H:%M"),
        next_steps=_next_steps(ctx, dossier),
        document_url=await _receipt_url(session, dossier.code, document_prefix),
        tracking_url=dossier_path(dossier.code),
        qr=qr_svg(f"{tracking}?key={key}", text("receipt.qr.title", code=dossier.code))
        if key
        else None,
    )


@router.get("/ho-so/{code}/bien-nhan", response_class=HTMLResponse)
async def receipt(request: Request, code: str, ctx: ContextDep, session: SessionDep) -> Response:
    key = lookup_key(request)
    if not key:
        return RedirectResponse(f"/tra-cuu?code={quote(code[:64])}", status_code=303)
    try:
        dossier = await operations.read(ctx, session, request, code, key, None, "view_dossier")
    except HTTPException as exc:
        if exc.status_code in (401, 404):
            return RedirectResponse("/tra-cuu", status_code=303)
        return http_error_page(request, exc)
    shown = await receipt_of(ctx, session, dossier, key, "/ho-so")
    return page(request, "portal/receipt.html", {"receipt": shown})

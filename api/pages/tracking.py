"""The applicant's tracking pages, under `/ho-so/{code}`: the timeline of the dossier, what to
do now, its documents, and the applicant's own acts (supplement and withdraw: tracking_acts.py;
rate and leave: here).

The applicant is whoever holds the lookup key, kept in an HttpOnly cookie sent only to this
dossier's pages (api.pages.guard): the QR link's `?key=` is checked once, kept in the cookie,
and the browser is sent on to the clean address, so the key stays out of the address bar, the
history of a shared phone, the server's logs and any Referer. Every read and act goes through
api.operations, with the API's own access rule and throttling."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from api import operations
from api.access import NOT_FOUND
from api.context import AppContext
from api.deps import ContextDep, SessionDep
from api.pages import tracking_acts
from api.pages.errors import refusal_message
from api.pages.guard import (
    CsrfChecked,
    dossier_path,
    forget_lookup_key,
    keep_lookup_key,
    lookup_key,
)
from api.pages.render import moment, no_store, page
from api.pages.texts import text
from api.pages.tracking_access import (
    OpenedDep,
    back_to,
    not_found,
    open_dossier,
    refused,
    to_lookup,
)
from api.pages.tracking_acts import requested_components
from api.pages.tracking_dates import appointment
from api.pages.tracking_view import (
    Facts,
    Payable,
    call_to_action,
    may_rate,
    may_withdraw,
    status_tag,
    timeline,
)
from api.schemas import DossierPublic, RatingIn
from api.security import normalized_lookup_key
from api.status import dossier_status
from domain.catalog import Procedure
from domain.codes import is_dossier_code
from domain.documents import TITLES
from domain.dossier import DocumentKind, StatusCode
from store import dossiers as repo
from store.models import Document, Dossier, Rating

router = APIRouter(include_in_schema=False)
router.include_router(tracking_acts.router)

# The confirmations a page may show after an act: a fixed word in the address, never text.
FLASHES = {
    "bo-sung": "tracking.flash.supplemented",
    "rut": "tracking.flash.withdrawal",
    "danh-gia": "tracking.flash.rated",
}
SATISFACTION = ("satisfied", "neutral", "dissatisfied")
# A key longer than this was never issued: refused without asking the database.
MAX_KEY_LENGTH = 64


# ---- the tracking page --------------------------------------------------------------------


@router.get("/ho-so/{code}", response_class=HTMLResponse)
async def tracking_page(
    code: str,
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    key: str | None = None,
    da: str | None = None,
) -> Response:
    if key is not None:
        return await _take_key(request, ctx, session, code, key)
    dossier = (await open_dossier(request, ctx, session, code)).dossier
    flash = {"kind": "success", "message": text(FLASHES[da])} if da in FLASHES else None
    return await render_tracking(request, ctx, session, dossier, flash=flash)


async def _take_key(
    request: Request, ctx: AppContext, session: AsyncSession, code: str, key: str
) -> Response:
    """The QR link: the key checked as the API checks it, kept in this dossier's cookie, and
    the phone sent on to the clean address."""
    key = normalized_lookup_key(key)
    try:
        if not key or len(key) > MAX_KEY_LENGTH or not is_dossier_code(code):
            raise HTTPException(404)
        await operations.read(ctx, session, request, code, key, None, "view_dossier")
    except HTTPException as exc:
        return refused(request, code, exc)
    response = RedirectResponse(dossier_path(code), status_code=303)
    keep_lookup_key(request, response, code, key)
    no_store(response)
    return response


async def render_tracking(
    request: Request,
    ctx: AppContext,
    session: AsyncSession,
    dossier: Dossier,
    *,
    flash: dict[str, str] | None = None,
    errors: list[dict[str, str]] | None = None,
    rating: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The tracking page, from the status the API gives the applicant."""
    status = await dossier_status(ctx, session, dossier, None)
    issued = await repo.documents(session, dossier.code)
    facts = await _facts(ctx, session, dossier, status, issued)
    rated = await session.get(Rating, dossier.code) if may_rate(status.status_code) else None
    due = appointment(status)
    details = [
        (text("tracking.summary.procedure"), f"{facts.procedure.name} ({facts.procedure.code})"),
        (text("tracking.summary.applicant"), status.applicant.full_name),
        (text("tracking.summary.received"), moment(status.received_at)),
    ]
    if due is not None:
        details.append((due.label, f"{due.value} ({due.note})" if due.note else due.value))
    context = {
        "code": dossier.code,
        "status_tag": status_tag(status.status_code),
        "appointment": due,
        "details": details,
        "overdue": status.overdue and status.finished_at is None,
        "procedure": facts.procedure,
        "steps": timeline(facts),
        "cta": call_to_action(facts, dossier.code),
        "submitted": _submitted(facts.procedure, dossier),
        "documents": [_document_row(dossier.code, d) for d in issued],
        "may_withdraw": may_withdraw(status.status_code),
        "may_rate": may_rate(status.status_code) and rated is None,
        "rated": text(f"tracking.rate.{rated.satisfaction}") if rated else None,
        "satisfaction_choices": [(s, text(f"tracking.rate.{s}")) for s in SATISFACTION],
        "rating": rating or {},
        "flash": flash,
        "errors": errors,
        "field_errors": {e["field"]: e["message"] for e in errors or []},
    }
    return page(request, "tracking/dossier.html", context, status_code=status_code)


async def _facts(
    ctx: AppContext,
    session: AsyncSession,
    dossier: Dossier,
    status: DossierPublic,
    issued: list[Document],
) -> Facts:
    """What the timeline and the call to action are derived from: the status, the pinned
    procedure, the fee asked, what a supplement request asks for, the documents issued."""
    catalog = await ctx.pinned_catalog(session, dossier.catalog_version)
    procedure = catalog.procedures[dossier.procedure_code]
    payment = None
    if status.status_code == StatusCode.PAYMENT_REQUESTED:
        # The key was checked when the page opened the dossier (`open_dossier`).
        record = await repo.get_payment(session, dossier.code)
        if record is not None:
            payment = Payable(record.amount_vnd, record.status, record.pay_url)
    missing: list[str] = []
    if status.status_code == StatusCode.SUPPLEMENT_REQUESTED:
        asked = await requested_components(session, procedure, dossier.code)
        missing = [name for _, name in asked]
    return Facts(
        status=status,
        procedure=procedure,
        department_names={d.code: d.name for d in catalog.catalog.departments},
        desk_department=catalog.agencies[dossier.agency_code].desk_department,
        delivery_method=str(dossier.delivery.get("method", "")),
        payment=payment,
        missing_components=missing,
        has_result=await repo.get_decision_document(session, dossier.code) is not None,
        now=datetime.now(UTC),
        refusal_document=next(
            (
                _document_row(dossier.code, d)["href"]
                for d in reversed(issued)
                if d.kind == DocumentKind.INTAKE_REFUSAL
            ),
            None,
        ),
    )


def _submitted(procedure: Procedure, dossier: Dossier) -> list[dict[str, Any]]:
    """The files the applicant sent, with the dossier and with each supplement, by the
    component's name."""
    names = {c.code: c.name for c in procedure.components}
    rows = []
    for sent in dossier.documents:
        component, file_id = str(sent.get("component", "")), sent.get("file_id")
        if not file_id:
            continue
        supplement = sent.get("supplement")
        rows.append(
            {
                "title": names.get(component, component),
                "href": f"{dossier_path(dossier.code)}/tep/{file_id}",
                "meta": text("tracking.submitted.supplement", round=supplement)
                if supplement
                else None,
            }
        )
    return rows


def _document_row(code: str, document: Document) -> dict[str, Any]:
    return {
        "title": TITLES.get(DocumentKind(document.kind), document.name),
        "href": f"{dossier_path(code)}/tai-lieu/{document.id}",
        "issued_at": document.issued_at,
    }


# ---- documents ----------------------------------------------------------------------------


Fetch = Callable[[str], Awaitable[operations.Pdf]]


async def _download(request: Request, code: str, fetch: Fetch, missing: str) -> Response:
    """A file of the dossier, as an attachment, with the key this phone keeps; `missing` says
    (a text key) what the dossier does not have."""
    key = lookup_key(request)
    if not key:
        return to_lookup()
    try:
        pdf = await fetch(key)
    except HTTPException as exc:
        if exc.status_code == 404 and exc.detail != NOT_FOUND:
            # The dossier opened, but has no such file (yet).
            context = {"message": text(missing), "back": dossier_path(code)}
            return page(request, "error.html", context, status_code=404)
        return refused(request, code, exc)
    response = Response(
        pdf.content,
        media_type=pdf.media_type,
        headers={"Content-Disposition": f'attachment; filename="{pdf.filename}"'},
    )
    no_store(response)  # personal data: never kept by a shared cache
    return response


def _no_such_file(request: Request, code: str) -> HTMLResponse:
    context = {"message": text("tracking.refused.document"), "back": dossier_path(code)}
    return page(request, "error.html", context, status_code=404)


@router.get("/ho-so/{code}/tai-lieu/{document_id}")
async def document(
    code: str, document_id: uuid.UUID, request: Request, ctx: ContextDep, session: SessionDep
) -> Response:
    """A document the agency issued (forms 01 to 04, the result)."""

    async def fetch(key: str) -> operations.Pdf:
        return await operations.document_pdf(ctx, session, request, code, key, None, document_id)

    return await _download(request, code, fetch, "tracking.refused.document")


@router.get("/ho-so/{code}/ket-qua")
async def result(code: str, request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    """The result, or the written refusal."""

    async def fetch(key: str) -> operations.Pdf:
        return await operations.document_pdf(ctx, session, request, code, key, None, None)

    return await _download(request, code, fetch, "tracking.refused.no_result")


@router.get("/ho-so/{code}/tep/{file_id}")
async def submitted_file(
    code: str, file_id: str, request: Request, ctx: ContextDep, session: SessionDep
) -> Response:
    """A file the applicant sent, as it was uploaded (PDF or a scan)."""
    try:
        wanted = uuid.UUID(file_id)
    except ValueError:
        return _no_such_file(request, code)

    async def fetch(key: str) -> operations.Pdf:
        return await operations.submitted_file(ctx, session, request, code, key, None, wanted)

    return await _download(request, code, fetch, "tracking.refused.document")


# ---- rating and leaving -------------------------------------------------------------------


@router.post("/ho-so/{code}/danh-gia", dependencies=[CsrfChecked])
async def rate(
    code: str,
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    opened: OpenedDep,
    satisfaction: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
) -> Response:
    dossier, key = opened.dossier, opened.key
    sent = {"satisfaction": satisfaction, "comment": comment}
    if satisfaction not in SATISFACTION:
        error = {"field": "rate-satisfaction", "message": text("tracking.rate.missing")}
        return await render_tracking(
            request, ctx, session, dossier, errors=[error], rating=sent, status_code=422
        )
    try:
        body = RatingIn.model_validate(
            {"satisfaction": satisfaction, "comment": comment.strip() or None}
        )
        await operations.rate(ctx, session, request, code, key, body)
    except ValidationError:
        error = {"field": "rate-comment", "message": text("tracking.note.too_long")}
        return await render_tracking(
            request, ctx, session, dossier, errors=[error], rating=sent, status_code=422
        )
    except HTTPException as exc:
        # 409: not returned yet (the form was stale); the page then shows no form to link to.
        message = text("tracking.rate.too_early") if exc.status_code == 409 else None
        error = {"field": "", "message": message or refusal_message(exc)}
        return await render_tracking(
            request, ctx, session, dossier, errors=[error], status_code=exc.status_code
        )
    return back_to(code, "danh-gia")


@router.post("/ho-so/{code}/thoat", dependencies=[CsrfChecked])
async def leave(code: str, request: Request) -> Response:
    """This phone forgets the dossier's key (a shared phone)."""
    if not is_dossier_code(code):
        return not_found(request, code)  # no cookie for a path that is no dossier's
    response = to_lookup()
    forget_lookup_key(response, code)
    return response

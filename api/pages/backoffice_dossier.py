"""An official's dossier page and what is done from it: the files the applicant submitted and
the documents issued (read as the API reads them, audited), and the actions, applied through
`api.operations.act` like the API's. A refusal is confirmed on a page of its own first; a
refused or stale action comes back as a message on the page."""

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from api import operations
from api.context import AppContext
from api.deps import ContextDep, SessionDep
from api.pages.backoffice import INBOX, done_flash, dossier_href
from api.pages.backoffice_dossier_view import dossier_page, refused_page
from api.pages.backoffice_forms import Posted, read_action, refusal_errors
from api.pages.errors import refusal_message
from api.pages.guard import CsrfChecked, PageOfficialDep
from api.pages.officer import NavDep
from api.pages.render import no_store, page
from api.pages.texts import text
from api.security import TokenClaims
from domain.dossier import Action

router = APIRouter(include_in_schema=False, dependencies=[NavDep])

# What a refused action says, by the API's status (422s go on their field instead).
REFUSED_BECAUSE = {
    403: "officials.error.not_your_step",
    409: "officials.error.stale",
    503: "officials.error.unavailable",
}


@router.get("/can-bo/ho-so/{code}", response_class=HTMLResponse)
async def dossier(
    code: str,
    request: Request,
    official: PageOfficialDep,
    ctx: ContextDep,
    session: SessionDep,
    done: Annotated[str | None, Query(alias="xong", max_length=32)] = None,
) -> HTMLResponse:
    flash = done_flash(done, code)
    return await dossier_page(request, ctx, session, official, code, flash=flash)


def _attachment(file: operations.Pdf) -> Response:
    """A file to save, never kept by a cache (it holds personal data)."""
    response = Response(
        content=file.content,
        media_type=file.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{file.filename}"',
            "X-Content-SHA256": file.sha256,
        },
    )
    no_store(response)
    return response


def _missing(request: Request, code: str, key: str) -> HTMLResponse:
    context = {"message": text(key), "back": dossier_href(code)}
    return page(request, "can_bo/refused.html", context, status_code=404)


@router.get("/can-bo/ho-so/{code}/tai-lieu/{document_id}")
async def document(
    code: str,
    document_id: uuid.UUID,
    request: Request,
    official: PageOfficialDep,
    ctx: ContextDep,
    session: SessionDep,
) -> Response:
    """One of the dossier's issued documents (PDF), read as the API reads it (audited)."""
    try:
        pdf = await operations.document_pdf(
            ctx, session, request, code, None, official, document_id
        )
    except HTTPException as exc:
        if exc.status_code == 404 and str(exc.detail).startswith("no such document"):
            return _missing(request, code, "officials.error.no_document")
        return refused_page(request, code, exc)
    return _attachment(pdf)


@router.get("/can-bo/ho-so/{code}/tep/{file_id}")
async def submitted_file(
    code: str,
    file_id: uuid.UUID,
    request: Request,
    official: PageOfficialDep,
    ctx: ContextDep,
    session: SessionDep,
) -> Response:
    """A file the applicant submitted (with the dossier or a supplement), as uploaded; read as
    the API reads it (the dossier's access rule, audited)."""
    try:
        file = await operations.submitted_file(ctx, session, request, code, None, official, file_id)
    except HTTPException as exc:
        if exc.status_code == 404 and str(exc.detail).startswith("no such file"):
            return _missing(request, code, "officials.error.no_file")
        return refused_page(request, code, exc)
    return _attachment(file)


def _confirmation(request: Request, code: str, posted: Posted) -> HTMLResponse:
    """'Are you sure?' before a refusal: the reason as the applicant will read it, and the
    same form keys (a stale confirmation is refused, a double press applied once)."""
    assert posted.body is not None
    action = posted.action
    context = {
        "code": code,
        "action": action,
        "title": text(f"officials.confirm.{action}.title", code=code),
        "consequence": text(f"officials.confirm.{action}.consequence"),
        "yes": text(f"officials.confirm.{action}.yes"),
        "note": posted.body.note or "",
        "step_key": posted.body.step_key or "",
        "request_key": posted.request_key or "",
    }
    return page(request, "can_bo/confirm_refusal.html", context)


async def _refused_action(
    request: Request,
    ctx: AppContext,
    session: AsyncSession,
    official: TokenClaims,
    code: str,
    posted: Posted,
    exc: HTTPException,
) -> HTMLResponse:
    errors = refusal_errors(posted.action, exc)
    if errors is not None:
        return await dossier_page(
            request, ctx, session, official, code,
            errors=errors, values=posted.values, status_code=exc.status_code,
        )  # fmt: skip
    key = REFUSED_BECAUSE.get(exc.status_code)
    message = text(key) if key else refusal_message(exc)
    # The page as it stands now, with fresh forms: the old one no longer fits.
    return await dossier_page(
        request, ctx, session, official, code,
        errors=[{"field": "", "message": message}], status_code=exc.status_code,
    )  # fmt: skip


@router.post("/can-bo/ho-so/{code}/xu-ly", response_class=HTMLResponse, dependencies=[CsrfChecked])
async def act(
    code: str,
    request: Request,
    official: PageOfficialDep,
    ctx: ContextDep,
    session: SessionDep,
) -> Response:
    """An action from the dossier page, as the API applies it; a form sent twice is applied
    once (its idempotency key), a stale one is refused (its step key)."""
    posted = read_action(await request.form())
    if posted.body is None:
        return await dossier_page(
            request, ctx, session, official, code,
            errors=posted.errors, values=posted.values, status_code=422,
        )  # fmt: skip
    if posted.to_confirm:
        if posted.confirm == "no":
            # Back to the dossier, the reason as typed.
            return await dossier_page(request, ctx, session, official, code, values=posted.values)
        return _confirmation(request, code, posted)
    try:
        await operations.act(ctx, session, request, code, official, posted.body, posted.request_key)
    except HTTPException as exc:
        return await _refused_action(request, ctx, session, official, code, posted, exc)
    action = str(posted.body.action)
    if action == Action.EXTEND:
        # The desk stays with the dossier it apologised for.
        return RedirectResponse(f"{dossier_href(code)}?xong={action}", status_code=303)
    return RedirectResponse(f"{INBOX}?xong={action}&ma={code}", status_code=303)

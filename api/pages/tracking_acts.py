"""The applicant's acts on the dossier from the tracking page: sending the supplement the desk
asked for (one upload per requested component), and withdrawing the dossier (after a
confirmation). Both through api.operations, as the API does them; a refusal is said on the
page, in Vietnamese."""

import uuid
from typing import Annotated, cast

from fastapi import APIRouter, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.datastructures import UploadFile as FormFile

from api import operations
from api.context import AppContext
from api.deps import ContextDep, SessionDep
from api.pages.errors import refusal_message
from api.pages.guard import CsrfChecked
from api.pages.render import page
from api.pages.texts import text
from api.pages.tracking_access import OpenedDep, back_to
from api.pages.tracking_view import may_withdraw
from api.schemas import DocumentRef, SupplementIn, WithdrawIn
from domain.catalog import Procedure
from domain.dossier import Action, DocumentKind, StatusCode
from store import dossiers as repo
from store.models import Dossier

router = APIRouter(include_in_schema=False)

MAX_NOTE = 2000
# What the file inputs accept (the server judges the content again, api/uploads.py).
ACCEPT = ".pdf,.jpg,.jpeg,.png,.tif,.tiff,application/pdf,image/jpeg,image/png,image/tiff"
_UPLOAD_REFUSALS = {415: "wrong_type", 413: "too_large", 422: "empty", 429: "throttled"}


async def requested_components(
    session: AsyncSession, procedure: Procedure, code: str
) -> list[tuple[str, str]]:
    """(code, name) of each component the last supplement request (form 02) asks for: the
    workflow records them, by name, in that document's context."""
    asked = [
        d
        for d in await repo.documents(session, code)
        if d.kind == DocumentKind.SUPPLEMENT_REQUEST and d.context
    ]
    if not asked or asked[-1].context is None:
        return []
    codes = {c.name: c.code for c in procedure.components}
    return [(codes.get(n, n), n) for n in asked[-1].context.get("missing_components", [])]


# ---- supplement ---------------------------------------------------------------------------


@router.get("/ho-so/{code}/bo-sung", response_class=HTMLResponse)
async def supplement_form(
    code: str, request: Request, ctx: ContextDep, session: SessionDep, opened: OpenedDep
) -> Response:
    dossier = opened.dossier
    if dossier.status_code != StatusCode.SUPPLEMENT_REQUESTED:
        return back_to(code)
    return await _supplement_page(request, ctx, session, dossier)


async def _supplement_page(
    request: Request,
    ctx: AppContext,
    session: AsyncSession,
    dossier: Dossier,
    *,
    errors: dict[str, str] | None = None,
    kept: dict[str, tuple[str, str]] | None = None,
    note: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    """The form: one file per requested component, with the desk's reason; `errors` by
    input id, `kept` the files already uploaded by a form sent with errors."""
    errors, kept = errors or {}, kept or {}
    catalog = await ctx.pinned_catalog(session, dossier.catalog_version)
    procedure = catalog.procedures[dossier.procedure_code]
    helps = {c.code: c.help for c in procedure.components}
    slip = await repo.slip_entries(session, dossier.code)
    asked = [e for e in slip if e.action == Action.REQUEST_SUPPLEMENT]
    mb = ctx.settings.max_upload_bytes // (1024 * 1024)
    file_hint = text("tracking.supplement.file_hint", mb=mb)
    components = [
        {
            "id": f"file-{component}",
            "name": name,
            "hint": _hint(helps.get(component), file_hint),
            "error": errors.get(f"file-{component}"),
            "kept": kept.get(component),
            "component": component,
        }
        for component, name in await requested_components(session, procedure, dossier.code)
    ]
    context = {
        "code": dossier.code,
        "reason": asked[-1].note if asked else None,
        "components": components,
        "round": dossier.supplement_requests,
        "note": note,
        "note_error": errors.get("note"),
        "accept": ACCEPT,
        "max_bytes": ctx.settings.max_upload_bytes,
        "too_large": text("tracking.upload.too_large_any", mb=mb),
        "wrong_type": text("tracking.upload.wrong_type_any"),
        "errors": [{"field": field, "message": message} for field, message in errors.items()],
    }
    return page(request, "tracking/supplement.html", context, status_code=status_code)


def _hint(help: str | None, file_hint: str) -> str:
    """What the component is (the catalog's help), then which files are taken."""
    if not help:
        return file_hint
    help = help.strip()
    return f"{help} {file_hint}" if help.endswith((".", "!", "?", "…")) else f"{help}. {file_hint}"


@router.post("/ho-so/{code}/bo-sung", dependencies=[CsrfChecked])
async def send_supplement(
    code: str, request: Request, ctx: ContextDep, session: SessionDep, opened: OpenedDep
) -> Response:
    dossier, key = opened.dossier, opened.key
    form = await request.form()  # parsed once, by the CSRF check
    same_round = form.get("round") == str(dossier.supplement_requests)
    if dossier.status_code != StatusCode.SUPPLEMENT_REQUESTED:
        # The same form sent twice: the first one was taken.
        return back_to(code, "bo-sung" if same_round else None)
    catalog = await ctx.pinned_catalog(session, dossier.catalog_version)
    asked = await requested_components(session, catalog.procedures[dossier.procedure_code], code)
    kept, errors = await _receive_files(request, ctx, session, form, asked)
    note = str(form.get("note") or "").strip()
    if len(note) > MAX_NOTE:
        errors["note"] = text("tracking.note.too_long")
    if errors:
        return await _supplement_page(
            request, ctx, session, dossier, errors=errors, kept=kept, note=note, status_code=422
        )
    try:
        body = SupplementIn(
            documents=[DocumentRef(component=c, file_id=uuid.UUID(kept[c][0])) for c, _ in asked],
            note=note or None,
        )
    except ValidationError:
        # What the API refuses too (a NUL character, text that cannot be stored): the note is
        # the only text typed here.
        errors = {"note": text("tracking.note.invalid")}
        shown = note.replace("\x00", "")
        return await _supplement_page(
            request, ctx, session, dossier, errors=errors, kept=kept, note=shown, status_code=422
        )
    try:
        await operations.send_supplement(ctx, session, request, code, key, body)
    except HTTPException as exc:
        if exc.status_code == 409 and same_round and "withdrawn" not in str(exc.detail):
            return back_to(code, "bo-sung")  # sent twice at once: the other one was taken
        message = _supplement_refusal(exc)
        return await _supplement_page(
            request,
            ctx,
            session,
            dossier,
            errors={"": message},
            kept=kept,
            note=note,
            status_code=exc.status_code,
        )
    return back_to(code, "bo-sung")


async def _receive_files(
    request: Request,
    ctx: AppContext,
    session: AsyncSession,
    form: FormData,
    asked: list[tuple[str, str]],
) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """Each requested component's file: uploaded now, or kept from the form's last sending.
    The files, and the problems by input id."""
    kept: dict[str, tuple[str, str]] = {}
    errors: dict[str, str] = {}
    for component, name in asked:
        field = f"file-{component}"
        sent = form.get(field)
        if isinstance(sent, FormFile) and sent.filename:
            try:
                # FastAPI's UploadFile is Starlette's (what the form parser makes) with a schema.
                stored = await operations.upload(ctx, session, request, cast(UploadFile, sent))
            except HTTPException as exc:
                errors[field] = _upload_refusal(exc, name, ctx.settings.max_upload_bytes)
                continue
            kept[component] = (str(stored.file_id), sent.filename)
            continue
        earlier = _kept_file(form, component)
        if earlier is None:
            errors[field] = text("tracking.upload.missing", name=name)
        else:
            kept[component] = earlier
    return kept, errors


def _kept_file(form: FormData, component: str) -> tuple[str, str] | None:
    """A file uploaded by an earlier sending of the form that had errors elsewhere."""
    file_id = form.get(f"kept-{component}")
    name = form.get(f"kept-name-{component}")
    if not isinstance(file_id, str) or not isinstance(name, str):
        return None
    try:
        return str(uuid.UUID(file_id)), name[:255]
    except ValueError:
        return None


def _upload_refusal(exc: HTTPException, name: str, max_bytes: int) -> str:
    problem = _UPLOAD_REFUSALS.get(exc.status_code)
    if problem is None:
        return refusal_message(exc)
    return text(f"tracking.upload.{problem}", name=name, mb=max_bytes // (1024 * 1024))


def _supplement_refusal(exc: HTTPException) -> str:
    if exc.status_code == 409:
        withdrawn = "withdrawn" in str(exc.detail)
        return text(
            "tracking.supplement.withdrawing" if withdrawn else "tracking.supplement.not_waiting"
        )
    return refusal_message(exc)


# ---- withdrawal ---------------------------------------------------------------------------


@router.get("/ho-so/{code}/rut", response_class=HTMLResponse)
async def withdraw_form(
    code: str, request: Request, ctx: ContextDep, session: SessionDep, opened: OpenedDep
) -> Response:
    dossier = opened.dossier
    return _withdraw_page(request, dossier)


def _withdraw_page(
    request: Request,
    dossier: Dossier,
    *,
    reason: str = "",
    error: str | None = None,
    refusal: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The confirmation; or, when the dossier can no longer be withdrawn, why not."""
    if refusal is None and not may_withdraw(dossier.status_code):
        asked = dossier.status_code == StatusCode.WITHDRAWAL_REQUESTED
        refusal = text("tracking.withdraw.already" if asked else "tracking.withdraw.too_late")
    context = {
        "code": dossier.code,
        "reason": reason,
        "reason_error": error,
        "refusal": refusal,
        "heading": text("tracking.withdraw.heading" if refusal else "tracking.withdraw.question"),
        "flash": {"kind": "warning", "message": refusal} if refusal else None,
        "errors": [{"field": "withdraw-reason", "message": error}] if error else None,
    }
    return page(request, "tracking/withdraw.html", context, status_code=status_code)


@router.post("/ho-so/{code}/rut", dependencies=[CsrfChecked])
async def withdraw(
    code: str,
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    opened: OpenedDep,
    reason: Annotated[str, Form()] = "",
) -> Response:
    dossier, key = opened.dossier, opened.key
    reason = reason.strip()
    try:
        # The API's own check of what is sent (its length; no NUL, which the workflow could
        # never store).
        body = WithdrawIn(reason=reason or None)
    except ValidationError:
        problem = "too_long" if len(reason) > MAX_NOTE else "invalid"
        error = text(f"tracking.note.{problem}")
        shown = reason.replace("\x00", "")
        return _withdraw_page(request, dossier, reason=shown, error=error, status_code=422)
    try:
        await operations.withdraw(ctx, session, request, code, key, body.reason)
    except HTTPException as exc:
        if exc.status_code == 409:
            # Asked once already (a second press, or another phone), or processed meanwhile.
            already = "already asked" in str(exc.detail)
            refusal = text("tracking.withdraw.already" if already else "tracking.withdraw.too_late")
        else:
            refusal = refusal_message(exc)
        return _withdraw_page(request, dossier, refusal=refusal, status_code=exc.status_code)
    return back_to(code, "rut")

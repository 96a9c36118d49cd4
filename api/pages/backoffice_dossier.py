"""An official's dossier page: what the API shows this official (read through
`api.operations`, so access rule and audit are the API's), its documents, its processing
control slip, and the forms of exactly the actions the official may take now. Actions go
through `api.operations.act`, like the API's; a refused or stale one comes back as a message
on the page."""

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from api import operations
from api.access import is_desk
from api.context import AppContext
from api.deps import ContextDep, SessionDep
from api.pages.backoffice import (
    INBOX,
    calendar_of,
    done_flash,
    dossier_href,
    role_name,
    urgency_tag,
)
from api.pages.backoffice_forms import ActionForms, action_forms, read_action, refusal_errors
from api.pages.errors import refusal_message
from api.pages.guard import CsrfChecked, PageOfficialDep
from api.pages.render import no_store, page
from api.pages.texts import VI, text
from api.schemas import DossierPublic, HistoryEntry
from api.security import TokenClaims
from api.status import dossier_status
from domain.action_offers import DossierNow, offers
from domain.catalog import LoadedCatalog
from domain.dossier import (
    DESK_STEP_NAMES,
    SUPPLEMENT_STEP,
    SUPPLEMENT_STEP_NAME,
    Action,
    Stage,
    Task,
)
from domain.urgency import urgency
from store import dossiers as repo
from store import officials
from store.models import Dossier

router = APIRouter(include_in_schema=False)

# What a refused action says, by the API's status (422s go on their field instead).
REFUSALS = {
    403: "officials.error.not_your_step",
    409: "officials.error.stale",
    503: "officials.error.unavailable",
}


def _refused(request: Request, code: str, exc: HTTPException) -> HTMLResponse:
    """The page instead of a dossier the official may not see (or that does not exist)."""
    message = {
        403: text("officials.error.no_part", code=code),
        404: text("officials.error.no_dossier", code=code),
    }.get(exc.status_code) or refusal_message(exc)
    return page(
        request,
        "can_bo/refused.html",
        {"message": message, "back": INBOX},
        status_code=exc.status_code,
    )


TIMELINESS_TAG = {"early": "green", "on_time": "green", "late": "red"}


def _step_names(catalog: LoadedCatalog, dossier: Dossier) -> dict[str, str]:
    names = {str(key): name for key, name in DESK_STEP_NAMES.items()}
    names[SUPPLEMENT_STEP] = SUPPLEMENT_STEP_NAME
    names[Stage.ROUTING] = text("officials.slip.routing_step")
    names.update({s.key: s.name for s in catalog.procedures[dossier.procedure_code].steps})
    return names


def _slip_action(action: str) -> str:
    for key in (f"officials.slip.{action}", f"action.{action}"):
        if key in VI:
            return text(key)
    return action


def _actor(actor: str) -> str:
    key = f"officials.slip.{actor}"
    return text(key) if key in VI else actor


def _slip(
    history: list[HistoryEntry], steps: dict[str, str], departments: dict[str, str]
) -> list[dict[str, Any]]:
    return [
        {
            "at": e.at,
            "step": steps.get(e.step, e.step),
            "department": departments.get(e.department, e.department),
            "action": _slip_action(e.action),
            "actor": _actor(e.actor),
            "timeliness": (
                text(f"timeliness.{e.timeliness}"),
                TIMELINESS_TAG.get(e.timeliness, "grey"),
            )
            if e.timeliness
            else None,
            "note": e.note or "",
        }
        for e in history
    ]


def _task(status: DossierPublic) -> Task | None:
    step = status.current_step
    if step is None:
        return None
    return Task(
        step.key, step.name, step.department, step.role, step.started_at, step.due_at,
        assignee=step.assignee,
    )  # fmt: skip


async def _forms(
    ctx: AppContext,
    session: AsyncSession,
    dossier: Dossier,
    status: DossierPublic,
    official: TokenClaims,
    now: datetime,
) -> tuple[ActionForms, list[str]]:
    """The forms of the actions offered now, and the departments whose opinions are awaited."""
    catalog = await ctx.pinned_catalog(session, dossier.catalog_version)
    procedure = catalog.procedures[dossier.procedure_code]
    task = _task(status)
    awaited = await repo.open_consultations(session, dossier.code)
    if task is not None:
        awaited = [c for c in awaited if c.step_key == task.step_key]
    state = DossierNow(
        channel=dossier.channel,
        stage=status.stage,
        status_code=status.status_code,
        task=task,
        due_at=status.due_at,
        consulting=bool(awaited),
    )
    offered = offers(catalog.snapshot(procedure.code), state, official.actor, now)
    departments = {d.code: d.name for d in catalog.catalog.departments}
    step = next((s for s in procedure.steps if task and s.key == task.step_key), None)
    colleagues: list[tuple[str, str]] = []
    if task is not None and Action.REASSIGN in offered:
        holders = {official.username, task.assignee}
        colleagues = [
            (o.username, f"{o.full_name} ({o.username})" if o.full_name else o.username)
            for o in await officials.colleagues(session, task.department, task.role)
            if o.username not in holders
        ]
    forms = action_forms(
        offered,
        task.step_key if task else None,
        components=[(c.code, c.name) for c in procedure.components],
        consults=[
            (c.department, departments.get(c.department, c.department)) for c in step.consults
        ]
        if step
        else [],
        colleagues=colleagues,
        suggested_due=calendar_of(ctx, dossier).add_working_days(status.due_at, 1),
    )
    return forms, [departments.get(c.department, c.department) for c in awaited]


async def dossier_page(
    request: Request,
    ctx: AppContext,
    session: AsyncSession,
    official: TokenClaims,
    code: str,
    *,
    errors: list[dict[str, str]] | None = None,
    values: dict[str, Any] | None = None,
    flash: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    try:
        dossier = await operations.read(ctx, session, request, code, None, official, "view_dossier")
    except HTTPException as exc:
        return _refused(request, code, exc)
    status = await dossier_status(ctx, session, dossier, official)
    catalog = await ctx.pinned_catalog(session, dossier.catalog_version)
    procedure = catalog.procedures[dossier.procedure_code]
    departments = {d.code: d.name for d in catalog.catalog.departments}
    now = datetime.now(UTC)
    forms, awaited = await _forms(ctx, session, dossier, status, official, now)
    step = status.current_step
    values = values or {}
    # Every consulted department is ticked until the official says otherwise.
    values.setdefault("departments", [code for code, _ in forms.consult or []])
    components = {c.code: c.name for c in procedure.components}
    submitted: dict[str, int] = {}
    for document in dossier.documents:
        submitted[document["component"]] = submitted.get(document["component"], 0) + 1
    context = {
        "code": code,
        "procedure": procedure.name,
        "status": status,
        "status_text": text(f"status.{status.status_code}"),
        "step": step,
        "step_text": text(
            "officials.dossier.step_value",
            step=step.name,
            department=departments.get(step.department, step.department),
        )
        if step
        else "",
        "step_role": role_name(step.role) if step else "",
        "step_tag": urgency_tag(
            urgency(calendar_of(ctx, dossier), step.started_at, step.due_at, now)
        )
        if step
        else None,
        "channel": text(f"channel.{dossier.channel}"),
        "delivery": text(f"delivery.{dossier.delivery.get('method', 'online')}"),
        "masked": not await is_desk(ctx, session, dossier, official),
        "components": [
            (components.get(c, c), text("officials.dossier.component_count", count=n))
            for c, n in submitted.items()
        ],
        "documents": [
            {"href": f"{dossier_href(code)}/tai-lieu/{d.id}", "name": d.name, "at": d.issued_at}
            for d in await repo.documents(session, code)
        ],
        "slip": _slip(status.history, _step_names(catalog, dossier), departments),
        "forms": forms,
        "awaited": ", ".join(awaited),
        "errors": errors or [],
        "field_errors": {e["field"]: e["message"] for e in errors or [] if e["field"]},
        "values": values,
        "flash": flash,
    }
    return page(request, "can_bo/dossier.html", context, status_code=status_code)


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
            message = text("officials.error.no_document")
            context = {"message": message, "back": dossier_href(code)}
            return page(request, "can_bo/refused.html", context, status_code=404)
        return _refused(request, code, exc)
    response = Response(
        content=pdf.content,
        media_type=pdf.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{pdf.filename}"',
            "X-Content-SHA256": pdf.sha256,
        },
    )
    no_store(response)
    return response


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
    try:
        await operations.act(ctx, session, request, code, official, posted.body, posted.request_key)
    except HTTPException as exc:
        errors = refusal_errors(posted.action, exc)
        if errors is not None:
            return await dossier_page(
                request, ctx, session, official, code,
                errors=errors, values=posted.values, status_code=exc.status_code,
            )  # fmt: skip
        key = REFUSALS.get(exc.status_code)
        message = text(key) if key else refusal_message(exc)
        # The page as it stands now, with fresh forms: the old one no longer fits.
        return await dossier_page(
            request, ctx, session, official, code,
            errors=[{"field": "", "message": message}], status_code=exc.status_code,
        )  # fmt: skip
    action = str(posted.body.action)
    if action == Action.EXTEND:
        # The desk stays with the dossier it apologised for.
        return RedirectResponse(f"{dossier_href(code)}?xong={action}", status_code=303)
    return RedirectResponse(f"{INBOX}?xong={action}&ma={code}", status_code=303)

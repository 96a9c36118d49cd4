"""An official's dossier page, in the order the work goes: what is to be done (one line), the
facts (status, step, due times, the declaration, the files, the applicant), the forms of
exactly the actions the official may take now, and the processing control slip. What the
page shows is what the API shows this official (read through `api.operations`, so access rule
and audit are the API's)."""

from datetime import UTC, datetime
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from api import operations
from api.access import is_desk
from api.context import AppContext
from api.pages.backoffice import INBOX, calendar_of, dossier_href, urgency_tag
from api.pages.backoffice_facts import (
    Slip,
    declaration,
    need,
    officials_named,
    role_name,
    step_names,
    submitted_files,
)
from api.pages.backoffice_forms import ActionForms, action_forms
from api.pages.errors import refusal_message
from api.pages.render import moment, page
from api.pages.texts import text
from api.schemas import DossierPublic, StepPublic
from api.security import TokenClaims
from api.status import dossier_status
from domain.action_offers import DossierNow, offers
from domain.dossier import Action, Task
from domain.urgency import Urgency, urgency
from store import dossiers as repo
from store import officials
from store.models import Dossier

# The inputs of the apology's form: an error on one opens it.
EXTEND_FIELDS = ("new-due-at", "extend-note")


def refused_page(request: Request, code: str, exc: HTTPException) -> HTMLResponse:
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
    calendar = calendar_of(ctx, dossier)
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
        suggested_due=calendar.add_working_days(status.due_at, 1),
        # The apology is shown open once the appointment is near or passed.
        apology_due=urgency(calendar, dossier.received_at, status.due_at, now) != Urgency.ON_TIME,
    )
    return forms, [departments.get(c.department, c.department) for c in awaited]


def _todo(
    forms: ActionForms, step: StepPublic | None, awaited: list[str], departments: dict[str, str]
) -> str:
    """What the official is to do now, in one line."""
    if awaited:
        return text("officials.todo.opinions", departments=", ".join(awaited))
    if step is not None and (forms.decisions or forms.refusals or forms.supplement):
        if step.due_at is None:
            return text("officials.todo.step", need=need(step.key, step.role), step=step.name)
        return text(
            "officials.todo.step_due",
            need=need(step.key, step.role),
            step=step.name,
            due=moment(step.due_at),
        )
    if step is not None:
        department = departments.get(step.department, step.department)
        return text("officials.todo.elsewhere", step=step.name, department=department)
    return text("officials.todo.nothing")


def _facts(
    ctx: AppContext,
    dossier: Dossier,
    status: DossierPublic,
    departments: dict[str, str],
    names: dict[str, str],
    now: datetime,
) -> list[dict[str, Any]]:
    """The dossier's facts, each a row of a summary list (with a tag where one tells more)."""
    calendar = calendar_of(ctx, dossier)
    rows: list[dict[str, Any]] = [
        {"label": text("officials.dossier.status"), "value": "",
         "tag": (text(f"status.{status.status_code}"), "blue")},
    ]  # fmt: skip
    step = status.current_step
    if step is not None:
        where = text(
            "officials.dossier.step_value",
            step=step.name,
            department=departments.get(step.department, step.department),
            role=role_name(step.role),
        )
        rows.append({"label": text("officials.dossier.step"), "value": where})
        if step.assignee:
            assignee = names.get(step.assignee, step.assignee)
            rows.append({"label": text("officials.dossier.assignee"), "value": assignee})
        due: dict[str, Any] = {"label": text("officials.dossier.step_due")}
        if step.due_at is None:
            due["value"] = text("officials.inbox.no_due")
        else:
            state = urgency(calendar, step.started_at, step.due_at, now)
            due |= {"value": moment(step.due_at), "tag": urgency_tag(state)}
        rows.append(due)
    appointment: dict[str, Any] = {
        "label": text("officials.dossier.appointment"),
        "value": moment(status.due_at),
    }
    late = urgency(calendar, dossier.received_at, status.due_at, now)
    if not status.finished_at and late != Urgency.ON_TIME:
        appointment["tag"] = urgency_tag(late)
    rows += [
        appointment,
        {"label": text("officials.dossier.received"), "value": moment(status.received_at)},
        {"label": text("officials.dossier.channel"), "value": text(f"channel.{dossier.channel}")},
        {
            "label": text("officials.dossier.delivery"),
            "value": text(f"delivery.{dossier.delivery.get('method', 'online')}"),
        },
    ]
    if status.supplement_requests:
        rows.append(
            {
                "label": text("officials.dossier.supplements"),
                "value": str(status.supplement_requests),
            }
        )
    return rows


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
        return refused_page(request, code, exc)
    status = await dossier_status(ctx, session, dossier, official)
    catalog = await ctx.pinned_catalog(session, dossier.catalog_version)
    procedure = catalog.procedures[dossier.procedure_code]
    departments = {d.code: d.name for d in catalog.catalog.departments}
    now = datetime.now(UTC)
    forms, awaited = await _forms(ctx, session, dossier, status, official, now)
    step = status.current_step
    errors = errors or []
    field_errors = {e["field"]: e["message"] for e in errors if e["field"]}
    forms.extend_open = forms.extend_open or any(f in field_errors for f in EXTEND_FIELDS)
    values = values or {}
    # Every consulted department is ticked until the official says otherwise.
    values.setdefault("departments", [code for code, _ in forms.consult or []])
    names = await officials_named(session, status.history, step.assignee if step else None)
    context = {
        "code": code,
        "procedure": procedure.name,
        "todo": _todo(forms, step, awaited, departments),
        "facts": _facts(ctx, dossier, status, departments, names, now),
        "snapshot": status.source == "snapshot",
        "declaration": declaration(procedure, dossier.form),
        "files": await submitted_files(session, dossier, procedure, dossier_href(code)),
        "applicant": status.applicant,
        "masked": not await is_desk(ctx, session, dossier, official),
        "documents": [
            {"href": f"{dossier_href(code)}/tai-lieu/{d.id}", "name": d.name, "at": d.issued_at}
            for d in await repo.documents(session, code)
        ],
        "slip": Slip(step_names(catalog, dossier), departments, names).entries(status.history),
        "forms": forms,
        "appointment": moment(status.due_at),
        "awaited": ", ".join(awaited),
        "errors": errors,
        "field_errors": field_errors,
        "values": values,
        "flash": flash,
    }
    return page(request, "can_bo/dossier.html", context, status_code=status_code)

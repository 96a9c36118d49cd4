"""The back office's way in and its inbox: logging in and out (the API's accounts, throttling
and audit), the steps waiting for the official's department and role, their alerts, and the
consultations put to them, answered from here."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from api import operations
from api.access import is_desk
from api.audit import entry
from api.context import AppContext
from api.deps import ContextDep, SessionDep
from api.pages import guard
from api.pages.backoffice_facts import first_lower, need, role_name
from api.pages.errors import refusal_message
from api.pages.guard import CsrfChecked, PageOfficialDep
from api.pages.officer import NavDep
from api.pages.render import moment, page
from api.pages.texts import text
from api.schemas import ConsultationAnswerIn
from api.security import TokenClaims
from api.status import applicant_public
from domain.calendar import VN_TZ, WorkingCalendar
from domain.codes import is_dossier_code
from domain.dossier import Action
from domain.urgency import Urgency, due_on, urgency
from store import dossiers as repo
from store.audit import append
from store.models import Dossier

router = APIRouter(include_in_schema=False, dependencies=[NavDep])

LOGIN = "/can-bo/dang-nhap"
INBOX = "/can-bo"
# How many of the queue's steps the inbox shows (the oldest due first).
INBOX_SIZE = 200
ALERTS_SHOWN = 10

URGENCY_TAG = {
    Urgency.ON_TIME: ("officials.urgency.on_time", "green"),
    Urgency.DUE_SOON: ("officials.urgency.due_soon", "yellow"),
    Urgency.OVERDUE: ("officials.urgency.overdue", "red"),
}
# The inbox's filters, as they read in the address bar: steps past their due time, and steps
# whose due time falls today (Vietnam's calendar day, passed or not).
OVERDUE, TODAY = "qua-han", "hom-nay"


def field_text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def dossier_href(code: str) -> str:
    return f"/can-bo/ho-so/{code}"


def urgency_tag(value: Urgency) -> tuple[str, str]:
    key, kind = URGENCY_TAG[value]
    return text(key), kind


def done_flash(action: str | None, code: str | None) -> dict[str, str] | None:
    """The confirmation after an action (the redirect's query names it)."""
    if not action or action not in Action.__members__.values() or not code:
        return None
    if not is_dossier_code(code):
        return None
    return {"kind": "success", "message": text(f"officials.done.{action}", code=code)}


# Working calendars by (settings, first year): built once, as each is immutable.
_calendars: dict[tuple[int, int], WorkingCalendar] = {}


def calendar_of(ctx: AppContext, dossier: Dossier) -> WorkingCalendar:
    """The working calendar the dossier's workflow counts its deadlines in (the one of the
    year it was received, as pinned at submission)."""
    key = (id(ctx.settings), dossier.received_at.astimezone(VN_TZ).year)
    if key not in _calendars:
        _calendars[key] = ctx.calendar_spec(key[1]).calendar()
    return _calendars[key]


# ---- logging in and out -------------------------------------------------------------------


def _login_page(
    request: Request,
    next_path: str,
    username: str = "",
    errors: list[dict[str, str]] | None = None,
    flash: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context = {
        "next": guard.safe_next(next_path),
        "username": username,
        "errors": errors or [],
        "field_errors": {e["field"]: e["message"] for e in errors or [] if e["field"]},
        "flash": flash,
    }
    return page(request, "can_bo/login.html", context, status_code=status_code)


@router.get(LOGIN, response_class=HTMLResponse)
async def login_form(
    request: Request,
    next_path: Annotated[str | None, Query(alias="next", max_length=300)] = None,
    logged_out: Annotated[str | None, Query(alias="da-dang-xuat", max_length=1)] = None,
) -> Response:
    if await guard.session_official(request) is not None:
        return RedirectResponse(guard.safe_next(next_path), status_code=303)
    flash = None
    if logged_out:
        flash = {"kind": "info", "message": text("officials.login.logged_out")}
    elif request.cookies.get(guard.SESSION_COOKIE):
        # A session cookie the server no longer accepts: it expired.
        flash = {"kind": "warning", "message": text("officials.login.expired")}
    return _login_page(request, next_path or INBOX, flash=flash)


@router.post(LOGIN, response_class=HTMLResponse, dependencies=[CsrfChecked])
async def log_in(request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    form = await request.form()
    # Phones add a space after an autocompleted word; a password is taken as typed.
    username, password = field_text(form, "username").strip(), field_text(form, "password")
    next_path = field_text(form, "next")
    missing = [
        {"field": name, "message": text(f"officials.login.missing_{name}")}
        for name, value in (("username", username), ("password", password))
        if not value
    ]
    if missing:
        return _login_page(request, next_path, username, missing, status_code=422)
    try:
        official = await operations.log_in(ctx, session, request, username, password)
    except HTTPException as exc:
        wrong = exc.status_code == 401
        message = text("officials.login.wrong") if wrong else refusal_message(exc)
        errors = [{"field": "username" if wrong else "", "message": message}]
        refused = _login_page(request, next_path, username, errors, status_code=exc.status_code)
        if exc.headers and "Retry-After" in exc.headers:
            refused.headers["Retry-After"] = exc.headers["Retry-After"]
        return refused
    response = RedirectResponse(guard.safe_next(next_path), status_code=303)
    guard.start_session(request, response, official)
    return response


@router.post("/can-bo/dang-xuat", dependencies=[CsrfChecked])
async def log_out() -> Response:
    response = RedirectResponse(f"{LOGIN}?da-dang-xuat=1", status_code=303)
    guard.end_session(response)
    return response


# ---- the inbox ------------------------------------------------------------------------------


async def _task_rows(
    ctx: AppContext, session: AsyncSession, official: TokenClaims, now: datetime
) -> list[dict[str, Any]]:
    """The steps waiting for the official, as the inbox lists them (oldest due first)."""
    rows = []
    today = now.astimezone(VN_TZ).date()
    dossiers = await repo.open_tasks(
        session, official.department, official.role, official.username, INBOX_SIZE, 0
    )
    for dossier in dossiers:
        if dossier.step_started_at is None:
            continue
        catalog = await ctx.pinned_catalog(session, dossier.catalog_version)
        procedure = catalog.procedures[dossier.procedure_code]
        # Masked as the API masks it: whole for the desk, which took the papers in.
        applicant = applicant_public(
            dossier.applicant, await is_desk(ctx, session, dossier, official)
        )
        state = urgency(
            calendar_of(ctx, dossier), dossier.step_started_at, dossier.step_due_at, now
        )
        rows.append(
            {
                "code": dossier.code,
                "href": dossier_href(dossier.code),
                "procedure": procedure.name,
                "need": text(
                    "officials.inbox.need", need=need(dossier.step_key or "", dossier.role or "")
                ),
                "applicant": f"{applicant.full_name} · {applicant.phone}",
                "step": dossier.step_name or dossier.step_key,
                "arrived": text(
                    "officials.inbox.arrived_value",
                    at=moment(dossier.step_started_at),
                    channel=first_lower(text(f"channel.{dossier.channel}")),
                ),
                "due": dossier.step_due_at,
                # A step without a due time is never late: no badge to say so.
                "tag": urgency_tag(state) if dossier.step_due_at else None,
                "overdue": state == Urgency.OVERDUE,
                "today": due_on(dossier.step_due_at, today),
                "mine": dossier.assignee == official.username,
            }
        )
    return rows


def _filters(rows: list[dict[str, Any]], chosen: str | None) -> list[dict[str, Any]]:
    counts = {
        None: len(rows),
        OVERDUE: sum(r["overdue"] for r in rows),
        TODAY: sum(r["today"] for r in rows),
    }
    names = {
        None: "officials.inbox.all",
        OVERDUE: "officials.inbox.overdue",
        TODAY: "officials.inbox.today",
    }
    return [
        {
            "href": INBOX if key is None else f"{INBOX}?loc={key}",
            "label": text(names[key], count=counts[key]),
            "current": chosen == key,
        }
        for key in (None, OVERDUE, TODAY)
    ]


async def inbox_page(
    request: Request,
    ctx: AppContext,
    session: AsyncSession,
    official: TokenClaims,
    chosen: str | None = None,
    flash: dict[str, str] | None = None,
    errors: list[dict[str, str]] | None = None,
    opinions: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    now = datetime.now(UTC)
    chosen = chosen if chosen in (OVERDUE, TODAY) else None
    rows = await _task_rows(ctx, session, official, now)
    shown = [r for r in rows if chosen is None or r["overdue" if chosen == OVERDUE else "today"]]
    # The list shows applicants' names and phone numbers: who saw which is kept, as for a
    # dossier's page.
    listed = {"codes": [r["code"] for r in shown]}
    await append(ctx.sessionmaker, entry(request, "list_tasks", official, None, listed))
    alerts = await repo.alerts_for(
        session, official.department, official.role, official.username, ALERTS_SHOWN, 0
    )
    consultations = await repo.consultations_for(
        session, official.department, official.role, True, INBOX_SIZE, 0
    )
    department = ctx.catalog.departments.get(official.department)
    context = {
        "lead": text(
            "officials.inbox.lead",
            department=department.name if department else official.department,
            role=role_name(official.role),
        ),
        "filters": _filters(rows, chosen),
        "tasks": shown,
        "empty": text("officials.inbox.empty_filtered" if rows else "officials.inbox.empty"),
        "alerts": [
            {
                "href": dossier_href(a.dossier_code),
                "code": a.dossier_code,
                "kind": text(f"officials.alerts.{a.kind}"),
                "message": a.message,
                "at": a.created_at,
            }
            for a in alerts
        ],
        "consultations": [
            {
                "id": c.id,
                "code": c.dossier_code,
                "href": dossier_href(c.dossier_code),
                "question": c.question or text("officials.consultations.no_question"),
                "asked": text(
                    "officials.consultations.asked",
                    at=moment(c.asked_at),
                    due=moment(c.due_at),
                ),
                "field": f"opinion-{c.id}",
                "label": text("officials.consultations.opinion", code=c.dossier_code),
                "value": (opinions or {}).get(c.id, ""),
            }
            for c in consultations
        ],
        "errors": errors or [],
        "field_errors": {e["field"]: e["message"] for e in errors or [] if e["field"]},
        "flash": flash,
    }
    return page(request, "can_bo/inbox.html", context, status_code=status_code)


@router.get(INBOX, response_class=HTMLResponse)
async def inbox(
    request: Request,
    official: PageOfficialDep,
    ctx: ContextDep,
    session: SessionDep,
    loc: Annotated[str | None, Query(max_length=16)] = None,
    done: Annotated[str | None, Query(alias="xong", max_length=32)] = None,
    code: Annotated[str | None, Query(alias="ma", max_length=64)] = None,
    answered: Annotated[str | None, Query(alias="y-kien", max_length=64)] = None,
) -> HTMLResponse:
    flash = done_flash(done, code)
    if answered and is_dossier_code(answered):
        flash = {"kind": "success", "message": text("officials.consultations.sent", code=answered)}
    return await inbox_page(request, ctx, session, official, loc, flash)


@router.post(
    "/can-bo/y-kien/{consultation_id}", response_class=HTMLResponse, dependencies=[CsrfChecked]
)
async def answer_consultation(
    consultation_id: str,
    request: Request,
    official: PageOfficialDep,
    ctx: ContextDep,
    session: SessionDep,
) -> Response:
    """The department's opinion on a consultation put to it."""
    opinion = field_text(await request.form(), "opinion")
    field = f"opinion-{consultation_id}"
    try:
        ConsultationAnswerIn(opinion=opinion)
    except ValidationError:
        error = {"field": field, "message": text("officials.consultations.missing")}
        return await inbox_page(
            request, ctx, session, official, errors=[error], opinions={consultation_id: opinion},
            status_code=422,
        )  # fmt: skip
    try:
        consultation = await operations.answer(
            ctx, session, request, consultation_id, official, opinion
        )
    except HTTPException as exc:
        message = {
            403: text("officials.consultations.not_yours"),
            409: text("officials.consultations.closed"),
        }.get(exc.status_code) or refusal_message(exc)
        return await inbox_page(
            request, ctx, session, official, errors=[{"field": "", "message": message}],
            status_code=exc.status_code,
        )  # fmt: skip
    return RedirectResponse(f"{INBOX}?y-kien={consultation.dossier_code}", status_code=303)

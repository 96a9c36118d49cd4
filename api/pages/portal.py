"""The public portal: what the agencies offer (searchable without diacritics), one procedure
explained, and the way in to tracking a dossier (`/tra-cuu`). Submitting online and the
receipt are in `apply`."""

import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api import operations
from api.deps import ContextDep, SessionDep
from api.pages import apply
from api.pages.errors import refusal_message
from api.pages.guard import CsrfChecked, dossier_path, keep_lookup_key
from api.pages.render import page
from api.pages.texts import text
from api.pages.tracking_dates import working_time
from api.security import normalized_lookup_key
from domain.catalog import LoadedCatalog, Procedure
from domain.dossier import pays_through_gateway
from domain.search import matches

router = APIRouter(include_in_schema=False)
router.include_router(apply.router)

LEVEL_TAG = {"full": "green", "partial": "blue"}


@dataclass
class Card:
    """A procedure in the list."""

    code: str
    name: str
    level: str
    level_tag: str
    fee_vnd: int
    processing_days: float


@dataclass
class Agency:
    name: str
    procedures: list[Card]


def _offer(catalog: LoadedCatalog, query: str) -> list[Agency]:
    """Each agency's procedures that match the query (all of them without one)."""
    groups = []
    for agency in catalog.catalog.agencies:
        cards = [
            Card(p.code, p.name, p.level, LEVEL_TAG[p.level], p.fee_vnd, p.processing_days)
            for p in catalog.catalog.procedures
            if p.agency == agency.code and matches(query, p.name, p.code)
        ]
        if cards:
            groups.append(Agency(agency.name, cards))
    return groups


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, ctx: ContextDep, q: str = "") -> HTMLResponse:
    query = " ".join(q[:200].split())
    agencies = _offer(ctx.catalog, query)
    found = sum(len(a.procedures) for a in agencies)
    return page(request, "portal/home.html", {"agencies": agencies, "query": query, "found": found})


# ---- one procedure --------------------------------------------------------------------------


@dataclass
class Stage:
    """A stage the dossier goes through, as the procedure page lists it."""

    name: str
    department: str
    time: str
    consulted: list[str]


def _stages(catalog: LoadedCatalog, procedure: Procedure) -> list[Stage]:
    departments = catalog.departments
    agency = catalog.agencies[procedure.agency]
    desk = departments[agency.desk_department].name
    stages = [Stage(text("procedure.stage.intake"), desk, _at_most(agency.intake_hours), [])]
    stages += [
        Stage(
            step.name,
            departments[step.department].name,
            _at_most(step.hours),
            [departments[c.department].name for c in step.consults],
        )
        for step in procedure.steps
    ]
    result = (
        "procedure.stage.result_online" if procedure.level == "full" else "procedure.stage.result"
    )
    stages.append(Stage(text(result), desk, "", []))
    return stages


def _at_most(hours: float) -> str:
    """A step's time as the tracking page says it too: in working days from a day on, in
    working hours below."""
    return text("procedure.time_limit", time=working_time(hours))


def unknown_procedure(request: Request, code: str) -> HTMLResponse:
    message = text("procedure.unknown", code=code[:64])
    return page(request, "error.html", {"message": message}, status_code=404)


@router.get("/thu-tuc/{code}", response_class=HTMLResponse)
async def procedure_page(request: Request, code: str, ctx: ContextDep) -> HTMLResponse:
    procedure = ctx.catalog.procedures.get(code)
    if procedure is None:
        return unknown_procedure(request, code)
    agency = ctx.catalog.agencies[procedure.agency]
    online_fee = pays_through_gateway(procedure.level, "online")
    return page(
        request,
        "portal/procedure.html",
        {
            "procedure": procedure,
            "agency": agency.name,
            "desk": ctx.catalog.departments[agency.desk_department].name,
            "level_tag": LEVEL_TAG[procedure.level],
            "stages": _stages(ctx.catalog, procedure),
            "fee_where": text("procedure.fee.online" if online_fee else "procedure.fee.desk"),
            "result_online": procedure.level == "full",
        },
    )


# ---- the way in to tracking -----------------------------------------------------------------

LOOKUP_CODE = "code"
LOOKUP_KEY = "key"


def _lookup_page(
    request: Request, code: str, errors: list[dict[str, str]], status_code: int
) -> HTMLResponse:
    fields = {e["field"]: e["message"] for e in errors if e["field"]}
    return page(
        request,
        "portal/lookup.html",
        {"code": code, "errors": errors, "field_errors": fields},
        status_code=status_code,
    )


@router.get("/tra-cuu", response_class=HTMLResponse)
async def lookup_form(request: Request, code: str = "") -> HTMLResponse:
    return _lookup_page(request, _squeezed(code), [], 200)


def _squeezed(value: str) -> str:
    """A code or key as typed from paper: without spaces, in capitals."""
    return re.sub(r"\s", "", value[:200]).upper()[:64]


@router.post("/tra-cuu", response_class=HTMLResponse, dependencies=[CsrfChecked])
async def lookup(
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    code: Annotated[str, Form()] = "",
    key: Annotated[str, Form()] = "",
) -> Response:
    code, key = _squeezed(code), _squeezed(key)
    missing = [
        {"field": name, "message": text(f"lookup.error.{name}")}
        for name, value in ((LOOKUP_CODE, code), (LOOKUP_KEY, key))
        if not value
    ]
    if missing:
        return _lookup_page(request, code, missing, 422)
    try:
        await operations.read(ctx, session, request, code, key, None, "view_dossier")
    except HTTPException as exc:
        if exc.status_code in (401, 404):
            # The same answer for an unknown code and a wrong key: codes cannot be probed.
            wrong = [{"field": LOOKUP_CODE, "message": text("lookup.error.not_found")}]
            return _lookup_page(request, code, wrong, 404)
        response = _lookup_page(
            request, code, [{"field": "", "message": refusal_message(exc)}], exc.status_code
        )
        if exc.headers and "Retry-After" in exc.headers:
            response.headers["Retry-After"] = exc.headers["Retry-After"]
        return response
    redirect = RedirectResponse(dossier_path(code), status_code=303)
    keep_lookup_key(request, redirect, code, normalized_lookup_key(key))
    return redirect

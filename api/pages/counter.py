"""Registering at the counter (`/can-bo/tiep-nhan`): a dossier brought in on paper, entered by
the agency's one-stop desk on the same form as the portal's (channel `counter`), the scans
uploaded, the answers checked, submitted through the same `api.operations.submit`; then the
code and lookup key to hand over, and form 01 to print."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api import operations
from api.access import desk_agency
from api.context import AppContext
from api.deps import ContextDep, SessionDep
from api.pages import dossier_form as df
from api.pages.apply import receipt_of
from api.pages.dossier_view import Urls, answers_page, form_page
from api.pages.errors import http_error_page
from api.pages.guard import CsrfChecked, PageOfficialDep
from api.pages.officer import NavDep
from api.pages.render import page
from api.pages.texts import text
from domain.catalog import Agency, Procedure
from domain.dossier import Channel

router = APIRouter(prefix="/can-bo/tiep-nhan", include_in_schema=False, dependencies=[NavDep])

HOME = "/can-bo/tiep-nhan"
DONE = f"{HOME}/da-nhan"
# The lookup key of a dossier just registered, for its page only, for as long as the
# applicant is at the counter: it is the applicant's, and is not shown to the desk again.
KEY_COOKIE = "motcua_counter_key"
KEY_TTL = timedelta(minutes=30)


class NotTheDesk(Exception):
    """A counter page asked for by an official who is not at an agency's one-stop desk."""


def desk_only(official: PageOfficialDep, ctx: ContextDep) -> Agency:
    """The agency at whose one-stop desk the official works (the header's rule too); anyone
    else is refused the counter's pages."""
    agency = desk_agency(ctx.catalog, official)
    if agency is None:
        raise NotTheDesk()
    return agency


DeskDep = Annotated[Agency, Depends(desk_only)]


async def not_the_desk(request: Request, exc: Exception) -> Response:
    return page(
        request,
        "can_bo/counter_refused.html",
        {"message": text("counter.refused")},
        status_code=403,
    )


def _procedures(ctx: AppContext, agency: Agency) -> list[Procedure]:
    return [p for p in ctx.catalog.catalog.procedures if p.agency == agency.code]


def _procedure(ctx: AppContext, agency: Agency, code: str) -> Procedure:
    procedure = ctx.catalog.procedures.get(code)
    if procedure is None or procedure.agency != agency.code:
        raise HTTPException(404, detail=text("counter.unknown_procedure", code=code[:64]))
    return procedure


def _urls(code: str) -> Urls:
    base = f"{HOME}/{code}"
    return Urls(check=base, edit=f"{base}/sua", send=f"{base}/gui", back=HOME)


def _form(
    request: Request,
    ctx: AppContext,
    procedure: Procedure,
    draft: df.Draft,
    problems: list[df.Problem],
    status_code: int = 200,
) -> HTMLResponse:
    urls = _urls(procedure.code)
    template = "can_bo/counter_form.html"
    return form_page(request, ctx, template, procedure, draft, problems, urls, status_code)


@router.get("", response_class=HTMLResponse)
async def choose(request: Request, agency: DeskDep, ctx: ContextDep) -> HTMLResponse:
    procedures = [
        {"name": p.name, "code": p.code, "href": f"{HOME}/{p.code}"}
        for p in _procedures(ctx, agency)
    ]
    context = {"agency": agency.name, "procedures": procedures}
    return page(request, "can_bo/counter.html", context)


@router.get("/{code}", response_class=HTMLResponse)
async def start(request: Request, code: str, agency: DeskDep, ctx: ContextDep) -> HTMLResponse:
    return _form(request, ctx, _procedure(ctx, agency, code), df.Draft(), [])


@router.post("/{code}", response_class=HTMLResponse, dependencies=[CsrfChecked])
async def check(
    request: Request, code: str, agency: DeskDep, ctx: ContextDep, session: SessionDep
) -> HTMLResponse:
    procedure = _procedure(ctx, agency, code)
    checked = await df.read_draft(ctx, session, request, procedure, Channel.COUNTER, upload=True)
    if checked.problems:
        return _form(request, ctx, procedure, checked.draft, checked.problems, 422)
    template = "can_bo/counter_check.html"
    return answers_page(request, template, procedure, checked.draft, _urls(code))


@router.post("/{code}/sua", response_class=HTMLResponse, dependencies=[CsrfChecked])
async def edit(
    request: Request, code: str, agency: DeskDep, ctx: ContextDep, session: SessionDep
) -> HTMLResponse:
    procedure = _procedure(ctx, agency, code)
    checked = await df.read_draft(ctx, session, request, procedure, Channel.COUNTER, upload=False)
    return _form(request, ctx, procedure, checked.draft, [])


@router.post("/{code}/gui", dependencies=[CsrfChecked])
async def send(
    request: Request,
    code: str,
    official: PageOfficialDep,
    agency: DeskDep,
    ctx: ContextDep,
    session: SessionDep,
) -> Response:
    """Submitted once, whatever the number of presses (the form's request key)."""
    procedure = _procedure(ctx, agency, code)
    checked = await df.read_draft(ctx, session, request, procedure, Channel.COUNTER, upload=False)
    if checked.body is None:
        return _form(request, ctx, procedure, checked.draft, checked.problems, 422)
    try:
        submitted = await operations.submit(
            ctx, session, request, checked.body, checked.draft.request_key, official
        )
    except HTTPException as exc:
        problem = df.submission_problem(exc)
        checked.draft.request_key = df.Draft().request_key  # what was refused made nothing
        return _form(request, ctx, procedure, checked.draft, [problem], exc.status_code)
    done = f"{DONE}/{submitted.dossier.code}"
    response = RedirectResponse(done, status_code=303)
    response.set_cookie(
        KEY_COOKIE,
        submitted.lookup_key,
        max_age=int(KEY_TTL.total_seconds()),
        path=done,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https" or ctx.settings.public_base_url.startswith("https://"),
    )
    return response


@router.get("/da-nhan/{code}", response_class=HTMLResponse)
async def registered(
    request: Request,
    code: str,
    official: PageOfficialDep,
    _: DeskDep,
    ctx: ContextDep,
    session: SessionDep,
) -> Response:
    """The dossier just registered: its code and key for the applicant, and what is next."""
    try:
        dossier = await operations.read(ctx, session, request, code, None, official, "view_dossier")
    except HTTPException as exc:
        return http_error_page(request, exc)
    key = request.cookies.get(KEY_COOKIE)
    shown = await receipt_of(ctx, session, dossier, key or "", "/can-bo/ho-so")
    context = {"receipt": shown, "key_shown": bool(key), "dossier_url": f"/can-bo/ho-so/{code}"}
    return page(request, "can_bo/counter_done.html", context)

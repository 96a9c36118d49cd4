"""Who is asking on the tracking pages: the applicant, by the lookup key this phone keeps in
the dossier's cookie, checked through api.operations like the API's `X-Lookup-Key`."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from api import operations
from api.context import AppContext
from api.deps import ContextDep, SessionDep
from api.pages.errors import http_error_page
from api.pages.guard import dossier_path, forget_lookup_key, lookup_key
from api.pages.render import page
from api.pages.texts import text
from domain.codes import is_dossier_code
from store.models import Dossier

LOOKUP_PAGE = "/tra-cuu"


def back_to(code: str, flag: str | None = None) -> RedirectResponse:
    """303 to the dossier's tracking page, with a confirmation flag (a fixed word, mapped to
    a text by the page: never text from the request)."""
    suffix = f"?da={flag}" if flag else ""
    return RedirectResponse(dossier_path(code) + suffix, status_code=303)


def to_lookup() -> RedirectResponse:
    return RedirectResponse(LOOKUP_PAGE, status_code=303)


def refused(request: Request, code: str, exc: HTTPException) -> HTMLResponse:
    """A read refused. A wrong key gets the answer of the lookup form (`/tra-cuu`) to a wrong
    code or key — that very page, the code filled in for another try — so a code cannot be
    probed here either; the cookie of a key that no longer opens the dossier is dropped.
    Anything else (too many tries, the service down) says what went wrong."""
    if exc.status_code in (401, 404):
        wrong = text("lookup.error.not_found")
        context = {
            "code": code[:64],
            "errors": [{"field": "code", "message": wrong}],
            "field_errors": {"code": wrong},
        }
        response = page(request, "portal/lookup.html", context, status_code=404)
        if is_dossier_code(code):
            # Only a real code goes into the cookie's path: anything else could carry cookie
            # attributes of its own (`x; Domain=...`).
            forget_lookup_key(response, code)
        return response
    return http_error_page(request, exc)


def not_found(request: Request, code: str) -> HTMLResponse:
    """What an address of no dossier gets: the lookup form's answer to a wrong code."""
    return refused(request, code, HTTPException(404))


class Unopened(Exception):
    """The dossier cannot be opened on this phone; `response` is the answer instead (no key:
    to the lookup form; a wrong one: not found)."""

    def __init__(self, response: Response) -> None:
        self.response = response


async def unopened(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Unopened)
    return exc.response


@dataclass
class Opened:
    dossier: Dossier
    key: str


async def open_dossier(
    request: Request, ctx: AppContext, session: AsyncSession, code: str
) -> Opened:
    """The dossier and the key this phone holds for it (Unopened otherwise)."""
    key = lookup_key(request)
    if not key:
        raise Unopened(to_lookup())
    try:
        dossier = await operations.read(ctx, session, request, code, key, None, "view_dossier")
    except HTTPException as exc:
        raise Unopened(refused(request, code, exc)) from exc
    return Opened(dossier, key)


async def _opened(code: str, request: Request, ctx: ContextDep, session: SessionDep) -> Opened:
    return await open_dossier(request, ctx, session, code)


# The dossier of the page's `{code}`, opened by the key this phone keeps for it.
OpenedDep = Annotated[Opened, Depends(_opened)]

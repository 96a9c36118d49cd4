"""The public portal: what the agency offers, one procedure, online submission and its
receipt, and the way in to tracking a dossier."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.deps import ContextDep
from api.pages.render import page

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, ctx: ContextDep) -> HTMLResponse:
    return page(request, "portal/home.html", {"procedures": ctx.catalog.catalog.procedures})

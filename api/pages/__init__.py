"""The people's pages, served by the API's own app: the portal for applicants (`/`), the back
office for officials (`/can-bo`) and the leaders' dashboard (`/can-bo/thong-ke`).

Server-rendered (Jinja2), Vietnamese first, working without JavaScript. Every page calls the
same code as the JSON API (`api.operations`, `api.status`, `api.access`): one rule, one place.
"""

from fastapi import FastAPI, Request
from fastapi.responses import Response

from api.pages import (
    backoffice,
    backoffice_dossier,
    counter,
    dashboard,
    portal,
    static,
    tracking,
    tracking_access,
)
from api.pages.errors import (
    csrf_refused,
    http_error_page,
    internal_error_page,
    malformed_request_page,
)
from api.pages.guard import CsrfRefused, LoginRequired, SecurityHeaders, is_page, to_login


def install(app: FastAPI) -> None:
    """The pages' routes, headers and error pages, on `app`."""
    for module in (static, portal, tracking, backoffice, backoffice_dossier, counter, dashboard):
        app.include_router(module.router)
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(CsrfRefused, csrf_refused)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(counter.NotTheDesk, counter.not_the_desk)
    app.add_exception_handler(tracking_access.Unopened, tracking_access.unopened)


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return to_login(exc)


__all__ = [
    "install",
    "is_page",
    "http_error_page",
    "internal_error_page",
    "malformed_request_page",
]

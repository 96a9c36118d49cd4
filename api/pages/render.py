"""Rendering the pages: one Jinja2 environment (autoescaped), the filters that write dates and
money the Vietnamese way, fingerprinted static files, and the headers every page carries."""

import hashlib
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from api.pages.guard import csrf_token, page_official, set_csrf_cookie
from api.pages.texts import LANGUAGE, text
from domain.calendar import VN_TZ
from domain.catalog import vnd

HERE = Path(__file__).parent
STATIC = HERE / "static"

templates = Jinja2Templates(directory=HERE / "templates")
env = templates.env
env.trim_blocks = True
env.lstrip_blocks = True


def day(value: datetime | date | None) -> str:
    """dd/mm/yyyy, in Vietnam's time."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(VN_TZ)
    return value.strftime("%d/%m/%Y")


def moment(value: datetime | None) -> str:
    """17:00, ngày 07/12/2026 — in Vietnam's time, as people write an appointment."""
    if value is None:
        return ""
    return value.astimezone(VN_TZ).strftime("%H:%M, ngày %d/%m/%Y")


def money(amount: int | None) -> str:
    """100.000 đ (the dot groups thousands)."""
    if not amount:
        return text("fee.none")
    return vnd(amount)


def working_days(value: float) -> str:
    """3 ngày làm việc; 0,5 ngày làm việc (the comma is the decimal mark)."""
    number = f"{value:g}".replace(".", ",")
    return f"{number} ngày làm việc"


@cache
def _fingerprint(name: str) -> str:
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:10]


def static_url(name: str) -> str:
    """A static file's URL with its content's fingerprint: cached for a year, and a new
    version is a new URL."""
    return f"/static/{name}?v={_fingerprint(name)}"


env.filters.update(day=day, moment=moment, money=money, working_days=working_days)
env.globals.update(t=text, static_url=static_url, lang=LANGUAGE)


def page(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """`template` rendered for `request`: with the form token, the official logged in (if
    any), and the security headers of a page."""
    token = csrf_token(request)
    values = {
        "request": request,
        "csrf_token": token,
        "official": page_official(request),
        **(context or {}),
    }
    response = templates.TemplateResponse(request, template, values, status_code=status_code)
    set_csrf_cookie(request, response, token)
    no_store(response)
    return response


def no_store(response: Response) -> None:
    """Pages hold personal data and one-time form tokens: never kept by a shared cache, nor
    by the browser's back-forward cache of a shared phone."""
    response.headers["Cache-Control"] = "no-store"

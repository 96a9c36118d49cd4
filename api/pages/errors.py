"""Errors on the pages: a page in Vietnamese saying what went wrong and what to do, never a
raw JSON error nor a 500's stack. Routes that can say more (a field, a stale action) catch
the API's errors themselves and show them in place."""

from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from api.pages.render import page
from api.pages.texts import text


def refusal_message(exc: HTTPException) -> str:
    """What to tell a person about an error the shared code raised."""
    if exc.status_code == 429:
        minutes = int(exc.headers.get("Retry-After", "600")) // 60 if exc.headers else 10
        return text("error.throttled", minutes=max(minutes, 1))
    if exc.status_code == 503:
        return text("error.unavailable")
    if exc.status_code == 413:
        return text("error.too_large")
    if exc.status_code == 404:
        return text("error.not_found")
    detail: Any = exc.detail
    if isinstance(detail, list):  # a 422's problems
        return "; ".join(str(p.get("msg", p)) if isinstance(p, dict) else str(p) for p in detail)
    return str(detail)


def http_error_page(request: Request, exc: HTTPException) -> HTMLResponse:
    context: dict[str, Any] = {"message": refusal_message(exc)}
    if exc.status_code == 413 and request.method == "POST":
        # Back to the form that sent too much (each form's page is its own address), not home.
        context["back"] = request.url.path
    response = page(request, "error.html", context, status_code=exc.status_code)
    if exc.headers and "Retry-After" in exc.headers:
        response.headers["Retry-After"] = exc.headers["Retry-After"]
    return response


async def csrf_refused(request: Request, exc: Exception) -> Response:
    return page(
        request,
        "error.html",
        {"message": text("error.csrf"), "back": request.url.path},
        status_code=403,
    )


def internal_error_page(request: Request, request_id: str) -> HTMLResponse:
    message = text("error.internal", request_id=request_id)
    return page(request, "error.html", {"message": message}, status_code=500)


def malformed_request_page(request: Request) -> HTMLResponse:
    """A request no page of ours sends (a field missing, text that cannot be stored)."""
    return page(request, "error.html", {"message": text("error.malformed")}, status_code=400)

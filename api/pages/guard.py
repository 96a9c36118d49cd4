"""What keeps the pages safe: the form token (CSRF), the official's session cookie, the
applicant's lookup key kept in a cookie of that dossier only, and the headers that forbid
inline scripts, framing and leaking addresses to other sites."""

import hmac
import secrets
from datetime import timedelta
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request, Response
from fastapi.responses import RedirectResponse
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import token_official
from api.security import TokenClaims, issue_token
from domain.codes import is_dossier_code
from motcua.settings import Settings

# Where the pages live; everything else (the JSON API, /docs, the codec) keeps its own rules.
PAGE_PREFIXES = ("/thu-tuc", "/tra-cuu", "/ho-so", "/can-bo", "/static")

CSRF_COOKIE = "motcua_csrf"
CSRF_FIELD = "csrf_token"
SESSION_COOKIE = "motcua_session"
KEY_COOKIE = "motcua_key"
# How long a phone keeps a dossier's lookup key after the QR link or the tracking form.
KEY_TTL = timedelta(hours=2)
OFFICIALS_PATH = "/can-bo"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"


def is_page(path: str) -> bool:
    return path == "/" or path.startswith(PAGE_PREFIXES)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _secure(request: Request) -> bool:
    """Cookies are Secure whenever the site is served over HTTPS."""
    return _settings(request).public_base_url.startswith("https://")


# ---- the form token ---------------------------------------------------------------------


def csrf_token(request: Request) -> str:
    """The browser's form token: its cookie's, or a new one for a first visit."""
    token = getattr(request.state, "csrf_token", None) or request.cookies.get(CSRF_COOKIE)
    if not token or len(token) > 64:
        token = secrets.token_urlsafe(32)
    request.state.csrf_token = token
    return str(token)


def set_csrf_cookie(request: Request, response: Response, token: str) -> None:
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(
            CSRF_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request)
        )


class CsrfRefused(Exception):
    """A form post without this site's token, or from another site."""


def _same_origin(request: Request) -> bool:
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    ours = {
        f"{request.url.scheme}://{request.url.netloc}",
        "{0.scheme}://{0.netloc}".format(urlsplit(_settings(request).public_base_url)),
    }
    return origin in ours


async def check_csrf(request: Request) -> None:
    """Every form post carries the token of the browser's cookie, and comes from this site."""
    if request.method != "POST":
        return
    form = await request.form()  # parsed once: the route reads the same form
    sent = form.get(CSRF_FIELD)
    cookie = request.cookies.get(CSRF_COOKIE)
    if (
        not isinstance(sent, str)
        or not cookie
        or not hmac.compare_digest(sent.encode(), cookie.encode())
        or not _same_origin(request)
    ):
        raise CsrfRefused()


CsrfChecked = Depends(check_csrf)


# ---- the official's session -------------------------------------------------------------


def start_session(request: Request, response: Response, official: TokenClaims) -> None:
    """The signed, short-lived token of the API, kept in an HttpOnly cookie of the back office;
    and a new form token, so none from before the login is worth anything after it.

    SameSite=Strict: a link from another site opens the login page rather than a dossier, so
    no other site can make an official's browser read (and so audit) a dossier."""
    settings = _settings(request)
    ttl = timedelta(minutes=settings.token_ttl_minutes)
    token = issue_token(official, settings.jwt_secret.get_secret_value(), ttl)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(ttl.total_seconds()),
        path=OFFICIALS_PATH,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    set_csrf_cookie(request, response, secrets.token_urlsafe(32))


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path=OFFICIALS_PATH)


_OFFICIAL = "page_official"


async def session_official(request: Request) -> TokenClaims | None:
    """The official logged in to the back office, or None (none, or the session expired or
    was revoked): by the rule of the API's bearer token (api.deps.token_official), once per
    request."""
    if not hasattr(request.state, _OFFICIAL):
        cookie = request.cookies.get(SESSION_COOKIE)
        setattr(request.state, _OFFICIAL, await token_official(request.app.state.ctx, cookie))
    return page_official(request)


def page_official(request: Request) -> TokenClaims | None:
    """The official `session_official` found for this request (None before it looked), for
    the pages' header."""
    official: TokenClaims | None = getattr(request.state, _OFFICIAL, None)
    return official


class LoginRequired(Exception):
    """A back-office page asked for without a live session: to the login page, then back."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


async def require_official(request: Request) -> TokenClaims:
    official = await session_official(request)
    if official is None:
        raise LoginRequired(request.url.path)
    return official


PageOfficialDep = Annotated[TokenClaims, Depends(require_official)]


def safe_next(path: str | None) -> str:
    """Where to go after logging in: a back-office path of ours, never another site."""
    if path and path.startswith(OFFICIALS_PATH) and "//" not in path and "\\" not in path:
        return path
    return OFFICIALS_PATH


def to_login(exc: LoginRequired) -> RedirectResponse:
    next_path = quote(exc.next_path, safe="/")
    return RedirectResponse(f"{OFFICIALS_PATH}/dang-nhap?next={next_path}", status_code=303)


# ---- the applicant's lookup key ---------------------------------------------------------


def dossier_path(code: str) -> str:
    return f"/ho-so/{code}"


def keep_lookup_key(request: Request, response: Response, code: str, key: str) -> None:
    """The key in an HttpOnly cookie sent only to this dossier's pages: the address bar, the
    history and the logs see a clean URL. Only for a well-formed code: the code becomes the
    cookie's path."""
    if not is_dossier_code(code):
        return
    response.set_cookie(
        KEY_COOKIE,
        key.strip().upper(),
        max_age=int(KEY_TTL.total_seconds()),
        path=dossier_path(code),
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


def forget_lookup_key(response: Response, code: str) -> None:
    if is_dossier_code(code):
        response.delete_cookie(KEY_COOKIE, path=dossier_path(code))


def lookup_key(request: Request) -> str | None:
    """The key the browser kept for the dossier of this page (the cookie's path scopes it)."""
    return request.cookies.get(KEY_COOKIE)


# ---- headers ----------------------------------------------------------------------------


class SecurityHeaders:
    """On every answer: no framing, no sniffing, no address sent to other sites. On the pages,
    no script or style but our own files; on the API's JSON, nothing at all to load or run (an
    answer opened in a browser stays inert) and nothing kept in a cache (answers hold personal
    data). Plain ASGI, as api/main.py's RequestContext says why."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                if is_page(path):
                    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
                elif headers.get("content-type", "").startswith("application/json"):
                    headers.setdefault("Content-Security-Policy", API_CONTENT_SECURITY_POLICY)
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)

"""The HTTP API: starts dossier workflows and answers where they are.

uvicorn api.main:app      # with DATABASE_URL and TEMPORAL_ADDRESS set (`motcua run` does it)
"""

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import structlog
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import metrics, pages
from api.body_limit import BodyLimit
from api.context import AppContext
from api.errors import problem
from api.routes import (
    admin,
    auth,
    codec,
    dossiers,
    files,
    health,
    payments,
    procedures,
    sandbox,
    stats,
    tasks,
    vnpay,
)
from api.throttle import client_address
from domain.catalog import load_catalog
from motcua.logging import configure_logging
from motcua.settings import Settings, get_settings
from motcua.temporal import connect_temporal
from store.catalog import record_catalog_version
from store.db import DATABASE_OUTAGE, create_engine, create_sessionmaker
from store.migrate import migrate

log = structlog.get_logger()


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    settings.refuse_demo_secrets()
    settings.refuse_unusable_gateway()
    catalog = load_catalog(settings.catalog_path)
    engine = create_engine(settings.require_database_url(), settings.db_pool_size)
    await migrate(engine)
    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker.begin() as session:
        await record_catalog_version(session, catalog)
    temporal = await connect_temporal(settings)
    async with httpx.AsyncClient(timeout=10) as http:
        app.state.ctx = AppContext(settings, engine, sessionmaker, temporal, catalog, http)
        log.info("api started", catalog_version=catalog.version)
        yield
    await engine.dispose()


class RequestContext:
    """Bind a request id to every log line of the request, and log the request once (before
    the last byte of its answer leaves: whoever has the answer finds the line).

    Plain ASGI: Starlette's `BaseHTTPMiddleware` runs each request in a second task fed
    through a stream, which cost the API about a tenth of its CPU."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        request_id = (request.headers.get("X-Request-Id") or uuid.uuid4().hex)[:64]
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        client_address.set(request.client.host if request.client else None)
        started = time.perf_counter()
        status = 500
        answered = logged = False

        def log_request() -> None:
            nonlocal logged
            logged = True
            elapsed = time.perf_counter() - started
            # By the route's template (never the dossier code in the path): bounded labels.
            route = getattr(scope.get("route"), "path", "unmatched")
            metrics.REQUESTS.labels(request.method, route, status).inc()
            metrics.LATENCY.labels(request.method, route).observe(elapsed)
            log.info(
                "request",
                method=request.method,
                path=request.url.path,
                status=status,
                duration_ms=round(elapsed * 1000, 1),
                # Set by the route that made it (a submission), or in the path.
                dossier_code=scope.get("state", {}).get("dossier_code")
                or scope.get("path_params", {}).get("code"),
            )

        async def send_with_id(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                answered, status = True, message["status"]
                MutableHeaders(scope=message)["X-Request-Id"] = request_id
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                log_request()
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error", method=request.method, path=request.url.path)
            if answered:  # too late for a 500: the client has a status already
                raise
            if pages.is_page(request.url.path):
                response: Response = pages.internal_error_page(request, request_id)
            else:
                response = JSONResponse(
                    {"detail": "internal error", "request_id": request_id}, status_code=500
                )
            await response(scope, receive, send_with_id)
        finally:
            if not logged:  # the client went away before the answer was whole
                log_request()


async def _unstorable_data(request: Request, exc: Exception) -> Response:
    """The last line of defence: data PostgreSQL refuses is the client's error, not ours."""
    log.warning("data refused by the database", error=str(exc).splitlines()[0])
    if pages.is_page(request.url.path):
        return pages.malformed_request_page(request)
    return JSONResponse({"detail": [problem("the request holds data that cannot be stored")]}, 422)


async def _invalid_request(request: Request, exc: Exception) -> Response:
    """422 naming each problem by place. The offending input is not echoed back: it may hold
    personal data, or values (NaN, broken Unicode) that do not even serialise."""
    assert isinstance(exc, RequestValidationError)
    if pages.is_page(request.url.path):
        # A page's own forms are checked by the page; this is a hand-made request.
        return pages.malformed_request_page(request)
    errors = [
        {"loc": list(e["loc"]), "msg": str(e["msg"]), "type": str(e["type"])} for e in exc.errors()
    ]
    return JSONResponse({"detail": errors}, 422)


# How long a client should wait before retrying what a 503 turned away.
RETRY_AFTER_SECONDS = 5

DATABASE_UNAVAILABLE = "the database is unavailable: nothing was changed, retry later"


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    """PostgreSQL down, restarting or out of connections is an outage of a dependency, not
    an internal error: 503 with Retry-After (a page says it in Vietnamese). Nothing of the
    request was committed: its transaction could not even start, or was rolled back."""
    log.warning("database unavailable", error=type(exc).__name__, path=request.url.path)
    unavailable = HTTPException(
        503, detail=DATABASE_UNAVAILABLE, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
    )
    if pages.is_page(request.url.path):
        return pages.http_error_page(request, unavailable)
    return JSONResponse(
        {"detail": DATABASE_UNAVAILABLE},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _allowed_methods(request: Request) -> str:
    """The methods of every route of the request's path: Starlette's 405 names only those of
    the first (GET of a path that takes POST too, as its own route, says `Allow: GET`)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if route.matches(request.scope)[0] != Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))


async def _http_error(request: Request, exc: Exception) -> Response:
    """A body that is not even text (broken UTF-8) is a malformed request like any other: 422
    in the same shape, not FastAPI's bare 400. A 503 (the engine or the database unavailable)
    says when to try again. A 405 names every method the path takes."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
        return JSONResponse({"detail": [problem("the body is not valid UTF-8 JSON")]}, 422)
    if exc.status_code == 503 and "Retry-After" not in (exc.headers or {}):
        exc.headers = {**(exc.headers or {}), "Retry-After": str(RETRY_AFTER_SECONDS)}
    if exc.status_code == 405:
        exc.headers = {**(exc.headers or {}), "Allow": _allowed_methods(request)}
    if pages.is_page(request.url.path):
        return pages.http_error_page(
            request, HTTPException(exc.status_code, exc.detail, exc.headers)
        )
    return await http_exception_handler(request, exc)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_format, settings.log_level)
    app = FastAPI(
        title="motcua",
        summary="One-stop dossier processing for Vietnamese public administrative procedures",
        version="0.1.0",
        lifespan=_lifespan,
    )
    app.state.settings = settings
    # Inside RequestContext: a body refused as too large is logged and counted like any answer.
    app.add_middleware(BodyLimit, settings=settings)
    app.add_middleware(RequestContext)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(DataError, _unstorable_data)
    for outage in DATABASE_OUTAGE:
        app.add_exception_handler(outage, _database_unavailable)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # The Temporal Web UI calls the payload codec from the operator's browser.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[settings.temporal_ui_url],
        allow_methods=["POST"],
        allow_headers=["Authorization", "Content-Type", "X-Namespace"],
        allow_credentials=True,
    )
    routers = (health, procedures, files, dossiers, auth, tasks, payments, codec, admin, stats)
    for router in routers:
        app.include_router(router.router)
    metrics.install(app)
    pages.install(app)
    # Pages and JSON travel compressed: a 3G phone pays for every byte.
    app.add_middleware(GZipMiddleware, minimum_size=1000)
    if settings.payment_gateway == "sandbox":
        app.include_router(sandbox.router)
    elif settings.payment_gateway == "vnpay":
        app.include_router(vnpay.router)
    return app


app = create_app()

"""Request bodies capped at the edge, per route, before anything reads them: an upload takes
`MAX_UPLOAD_BYTES` (a page's form, that per file it can carry), the payload codec a page of
Temporal's payloads, anything else `MAX_BODY_BYTES`. A declared length past the limit is
refused before a byte is read; a chunked (or lying) body is counted as it streams in and cut
off once past it. Either way the answer is 413, in the app's JSON or as a page, and no more
than the limit was ever held. The 413 closes the connection: the server would otherwise read
(and throw away) the rest of the body, all 2 GB of it, to take the next request. Plain ASGI,
as api/main.py's RequestContext says why."""

import re

import structlog
from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import pages
from api.context import AppContext
from motcua.settings import Settings

log = structlog.get_logger()

UPLOAD = "/api/v1/files"
# The pages' forms that carry files: the applicant's dossier and supplement, the desk's.
_PAGE_UPLOAD = re.compile(r"/(thu-tuc/[^/]+/nop-ho-so|can-bo/tiep-nhan/[^/]+|ho-so/[^/]+/bo-sung)")
# A multipart body's part headers and boundaries, and a page form's other fields.
_FORM_FIELDS = 64 * 1024
CODEC = "/codec/"
# Temporal's gRPC messages are at most 4 MiB: no page of payloads the Web UI sends is larger.
_CODEC_BYTES = 4 * 1024 * 1024


class BodyTooLarge(StarletteHTTPException):
    """Raised by the counting `receive` in whatever is reading the body; the app's own handler
    for HTTP errors answers it (FastAPI lets HTTP errors through its body parsing)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=f"the request body is larger than {limit} bytes")


class BodyLimit:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self._files_per_form: int | None = None

    def limit(self, scope: Scope) -> int:
        path = scope["path"].rstrip("/")
        if scope["method"] == "POST":
            if path == UPLOAD:
                return self.settings.max_upload_bytes + _FORM_FIELDS
            if _PAGE_UPLOAD.fullmatch(path):
                return self.settings.max_upload_bytes * self._files(scope) + _FORM_FIELDS
            if path.startswith(CODEC):
                return _CODEC_BYTES
        return self.settings.max_body_bytes

    def _files(self, scope: Scope) -> int:
        """The most files a page's form carries: one per component of the largest procedure."""
        if self._files_per_form is None:
            ctx: AppContext = scope["app"].state.ctx
            procedures = ctx.catalog.procedures.values()
            self._files_per_form = max(len(p.components) for p in procedures)
        return self._files_per_form

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(scope, receive, send, limit)
            return
        received = 0
        answered = cut_off = False

        async def counting_receive() -> Message:
            nonlocal received, cut_off
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    cut_off = True
                    raise BodyTooLarge(limit)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = True
                if cut_off:
                    MutableHeaders(scope=message)["Connection"] = "close"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge:
            # Read outside any handler (e.g. by another middleware): answered here.
            if answered:
                raise
            await _refuse(scope, receive, send, limit)


async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    request = Request(scope)
    log.warning("request body too large", path=request.url.path, limit=limit)
    too_large = BodyTooLarge(limit)
    if pages.is_page(request.url.path):
        refusal = HTTPException(too_large.status_code, too_large.detail)
        response: Response = pages.http_error_page(request, refusal)
    else:
        response = JSONResponse({"detail": too_large.detail}, status_code=too_large.status_code)
    response.headers["Connection"] = "close"
    await response(scope, receive, send)

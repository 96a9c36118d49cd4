"""What the applicant and officials do to a dossier, as the JSON API and the web pages both do
it: the access rule, the audit entry and the metrics, then the act. One place, so a page can
never let someone do or see what the API would refuse them."""

import asyncio
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import HTTPException, Request, UploadFile, status
from sqlalchemy.ext.asyncio import AsyncSession

from api import metrics, throttle
from api.access import (
    check_may_register,
    load_for_applicant,
    load_for_caller,
    load_for_official,
)
from api.actions import answer_consultation, apply_action, request_withdrawal, supplement
from api.audit import audited, entry, entry_by
from api.context import AppContext
from api.documents import rendered
from api.schemas import ActionIn, DossierCreate, FilePublic, RatingIn, SupplementIn
from api.security import TokenClaims, check_password
from api.submission import Submitted, submit_dossier
from api.uploads import receive_upload
from domain.dossier import StatusCode
from store import dossiers as repo
from store.audit import append
from store.models import Consultation, Document, Dossier, Payment, StoredFile
from store.officials import get_official
from workflows.messages import ActionResult

log = structlog.get_logger()


async def log_in(
    ctx: AppContext, session: AsyncSession, request: Request, username: str, password: str
) -> TokenClaims:
    """The official behind a username and password; 401 (or 429 after too many failures:
    api/throttle.py)."""
    # A name PostgreSQL could not even store cannot be an official's.
    storable = username.isprintable()
    name = username[:64] if storable else "?"
    login = await throttle.reserve_login(ctx, name)
    official = await get_official(session, username) if storable else None
    # The read is over: its connection goes back to the pool while the password is checked
    # (a burst of logins, waiting their turn at the hasher, would hold them all).
    await session.commit()
    # Checked for an unknown name too (against a hash of nothing): it answers no faster.
    password_hash = official.password_hash if official is not None else None
    right = await check_password(password_hash, password, ctx.password_checks)
    if official is None or not right:
        # Failed logins are kept (by the name tried), for the security office to see.
        await append(ctx.sessionmaker, entry_by(request, name, "unknown", "login_failed"))
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="wrong username or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    await throttle.login_succeeded(ctx, login)
    await append(ctx.sessionmaker, entry_by(request, official.username, official.role, "login"))
    return TokenClaims(
        official.username, official.department, official.role, official.token_version
    )


async def upload(
    ctx: AppContext,
    session: AsyncSession,
    request: Request,
    file: UploadFile,
    official: TokenClaims | None = None,
) -> FilePublic:
    """One component's file, checked by its content and size, stored, and audited. Anyone's
    uploads are counted per client (429 past UPLOADS_PER_HOUR); an official's are not."""
    if official is None:
        try:
            await throttle.upload_counted(ctx)
        except HTTPException as exc:
            refused = {"refused": exc.status_code}
            await append(ctx.sessionmaker, entry(request, "upload", None, detail=refused))
            raise
    stored = await receive_upload(ctx, session, file)
    detail = {"file_id": str(stored.file_id), "size": stored.size}
    await append(ctx.sessionmaker, entry(request, "upload", official, detail=detail))
    return stored


async def submit(
    ctx: AppContext,
    session: AsyncSession,
    request: Request,
    body: DossierCreate,
    idempotency_key: str | None,
    official: TokenClaims | None = None,
) -> Submitted:
    """A new dossier (or, for a repeated Idempotency-Key, the one it already made): online by
    anyone, at the counter or by post by the agency's desk (`official`)."""
    check_may_register(ctx, body.procedure_code, body.channel, official)
    submitted = await submit_dossier(ctx, session, body, idempotency_key)
    request.state.dossier_code = submitted.dossier.code  # for the request's log line
    if not submitted.replayed:
        audit = entry(request, "submit", official, submitted.dossier.code)
        await append(ctx.sessionmaker, audit)
        metrics.DOSSIERS_STARTED.labels(body.procedure_code, str(body.channel)).inc()
    return submitted


async def read(
    ctx: AppContext,
    session: AsyncSession,
    request: Request,
    code: str,
    lookup_key: str | None,
    official: TokenClaims | None,
    action: str,
    **detail: Any,
) -> Dossier:
    """The dossier, for its applicant or an official who may see it. Officials' reads of its
    personal data go to the audit trail (refused ones too); the applicant's own do not."""
    structlog.contextvars.bind_contextvars(dossier_code=code)
    reading = audited(ctx, entry(request, action, official, code, detail)) if official else None
    async with reading or nullcontext():
        return await load_for_caller(ctx, session, code, lookup_key, official)


async def act(
    ctx: AppContext,
    session: AsyncSession,
    request: Request,
    code: str,
    official: TokenClaims,
    body: ActionIn,
    request_key: str | None,
) -> ActionResult:
    """An official's action on the dossier's current step; the same official, action and
    request key are applied once."""
    structlog.contextvars.bind_contextvars(dossier_code=code)
    what = body.model_dump(mode="json", exclude_defaults=True)
    try:
        async with audited(ctx, entry(request, str(body.action), official, code, what)):
            dossier = await load_for_official(ctx, session, code, official)
            result = await apply_action(ctx, session, dossier, official, body, request_key)
    except HTTPException as exc:
        metrics.ACTIONS.labels(str(body.action), exc.status_code).inc()
        raise
    metrics.ACTIONS.labels(str(body.action), 200).inc()
    log.info("official action", action=str(body.action), actor=official.username)
    return result


async def withdraw(
    ctx: AppContext,
    session: AsyncSession,
    request: Request,
    code: str,
    lookup_key: str | None,
    reason: str | None,
) -> ActionResult:
    """The applicant's request to withdraw the dossier."""
    structlog.contextvars.bind_contextvars(dossier_code=code)
    async with audited(ctx, entry(request, "withdraw", None, code)):
        await load_for_applicant(ctx, session, code, lookup_key)
        result = await request_withdrawal(ctx, session, code, reason)
    log.info("withdrawal requested")
    return result


async def send_supplement(
    ctx: AppContext,
    session: AsyncSession,
    request: Request,
    code: str,
    lookup_key: str | None,
    body: SupplementIn,
) -> ActionResult:
    """The components a supplement request asked for, from the applicant."""
    structlog.contextvars.bind_contextvars(dossier_code=code)
    components = [d.component for d in body.documents]
    async with audited(ctx, entry(request, "supplement", None, code, {"components": components})):
        dossier = await load_for_applicant(ctx, session, code, lookup_key)
        result = await supplement(ctx, session, dossier, body)
    log.info("supplement received")
    return result


async def rate(
    ctx: AppContext,
    session: AsyncSession,
    request: Request,
    code: str,
    lookup_key: str | None,
    body: RatingIn,
) -> None:
    """The applicant's rating, once the result is returned; a later one replaces it."""
    audit = entry(request, "rate", None, code, {"satisfaction": body.satisfaction})
    async with audited(ctx, audit):
        dossier = await load_for_applicant(ctx, session, code, lookup_key)
        if dossier.status_code != StatusCode.RESULT_RETURNED:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                detail=f"dossier {code} can be rated once its result is returned",
            )
        await repo.save_rating(session, code, body.satisfaction, body.comment)
        await session.commit()


@dataclass
class Pdf:
    """A file to download: an issued document (PDF) or a submitted one (PDF or a scan)."""

    filename: str
    content: bytes
    media_type: str
    sha256: str


async def document_pdf(
    ctx: AppContext,
    session: AsyncSession,
    request: Request,
    code: str,
    lookup_key: str | None,
    official: TokenClaims | None,
    document_id: uuid.UUID | None,
) -> Pdf:
    """One issued document of the dossier, or (no id) its result or written refusal."""
    if document_id is None:
        await read(ctx, session, request, code, lookup_key, official, "read_result")
        document = await repo.get_decision_document(session, code)
        missing = "no result document for this dossier (yet)"
    else:
        detail = {"document": str(document_id)}
        await read(ctx, session, request, code, lookup_key, official, "read_document", **detail)
        document = await repo.get_document(session, code, document_id)
        missing = "no such document for this dossier"
    if document is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=missing)
    return await _pdf(session, code, document)


async def _pdf(session: AsyncSession, code: str, document: Document) -> Pdf:
    document = await rendered(session, document)
    assert document.content is not None and document.sha256 is not None
    return Pdf(
        f"{code}-{document.kind}.pdf", document.content, document.content_type, document.sha256
    )


_EXTENSIONS = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}


async def submitted_file(
    ctx: AppContext,
    session: AsyncSession,
    request: Request,
    code: str,
    lookup_key: str | None,
    official: TokenClaims | None,
    file_id: uuid.UUID,
) -> Pdf:
    """A file the applicant submitted with the dossier or a supplement, for whoever may see
    the dossier (an official's read goes to the audit trail)."""
    detail = {"file": str(file_id)}
    dossier = await read(ctx, session, request, code, lookup_key, official, "read_file", **detail)
    component = next(
        (d["component"] for d in dossier.documents if d.get("file_id") == str(file_id)), None
    )
    stored = await session.get(StoredFile, file_id) if component is not None else None
    if stored is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such file in this dossier")
    path = ctx.settings.files_dir / stored.storage_name
    content = await asyncio.to_thread(path.read_bytes)
    extension = _EXTENSIONS.get(stored.content_type, ".tif")
    return Pdf(f"{code}-{component}{extension}", content, stored.content_type, stored.sha256)


async def payment(
    ctx: AppContext, session: AsyncSession, code: str, lookup_key: str | None
) -> Payment | None:
    """The fee asked of the applicant and where to pay it, once the dossier is approved."""
    await load_for_applicant(ctx, session, code, lookup_key)
    return await repo.get_payment(session, code)


async def answer(
    ctx: AppContext,
    session: AsyncSession,
    request: Request,
    consultation_id: str,
    official: TokenClaims,
    opinion: str,
) -> Consultation:
    """The consulted department's opinion; the consultation as it was asked."""
    consultation = await repo.get_consultation(session, consultation_id)
    if consultation is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no consultation {consultation_id}")
    audit = entry(request, "answer_consultation", official, consultation.dossier_code)
    async with audited(ctx, audit):
        if (official.department, official.role) != (consultation.department, consultation.role):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"this consultation is for department {consultation.department}, "
                f"role {consultation.role}",
            )
        await answer_consultation(ctx, session, consultation_id, official, opinion)
    return consultation

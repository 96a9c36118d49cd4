import uuid
from contextlib import nullcontext
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Header, HTTPException, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from api import metrics
from api.access import load_for_applicant, load_for_caller, load_for_official
from api.actions import apply_action, request_withdrawal, supplement
from api.audit import audited, entry
from api.context import AppContext
from api.deps import ContextDep, LookupKeyDep, OfficialDep, OptionalOfficialDep, SessionDep
from api.documents import rendered
from api.schemas import (
    ActionIn,
    ActionOut,
    DocumentPublic,
    DossierCreate,
    DossierCreated,
    DossierPublic,
    PaymentPublic,
    RatingIn,
    RatingPublic,
    SupplementIn,
    WithdrawIn,
)
from api.security import TokenClaims
from api.status import dossier_status, step_public
from api.submission import submit_dossier
from domain.dossier import StatusCode
from store import dossiers as repo
from store.audit import append
from store.models import Document, Dossier
from workflows.messages import ActionResult

router = APIRouter(prefix="/api/v1/dossiers", tags=["dossiers"])

IdempotencyKeyDep = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="Send the same key when retrying: the request takes effect once",
    ),
]


def _action_out(code: str, result: ActionResult) -> ActionOut:
    return ActionOut(
        code=code,
        status_code=result.status_code,
        stage=result.stage,
        current_step=step_public(result.current_task),
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DossierCreated,
    responses={422: {}, 503: {}},
)
async def submit(
    body: DossierCreate,
    request: Request,
    response: Response,
    ctx: ContextDep,
    session: SessionDep,
    idempotency_key: IdempotencyKeyDep = None,
) -> DossierCreated:
    submitted = await submit_dossier(ctx, session, body, idempotency_key)
    if submitted.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    d = submitted.dossier
    request.state.dossier_code = d.code  # for the request's log line
    if not submitted.replayed:
        await append(ctx.sessionmaker, entry(request, "submit", None, d.code))
        metrics.DOSSIERS_STARTED.labels(body.procedure_code, str(body.channel)).inc()
    return DossierCreated(
        code=d.code,
        lookup_key=submitted.lookup_key,
        status_code=1,
        received_at=d.received_at,
        due_at=d.due_at,
    )


@router.get("/{code}", response_model=DossierPublic, responses={401: {}, 403: {}, 404: {}})
async def get_dossier(
    code: str,
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    official: OptionalOfficialDep,
    lookup_key: LookupKeyDep = None,
) -> DossierPublic:
    """Where the dossier is: the applicant with `X-Lookup-Key`, or an official's bearer token."""
    structlog.contextvars.bind_contextvars(dossier_code=code)
    dossier = await _load_to_read(ctx, session, request, code, lookup_key, official, "view_dossier")
    return await dossier_status(ctx, session, dossier, official)


async def _load_to_read(
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
    reading = audited(ctx, entry(request, action, official, code, detail)) if official else None
    async with reading or nullcontext():
        return await load_for_caller(ctx, session, code, lookup_key, official)


@router.post(
    "/{code}/actions",
    response_model=ActionOut,
    responses={401: {}, 403: {}, 404: {}, 409: {}, 422: {}, 503: {}},
)
async def act(
    code: str,
    body: ActionIn,
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    official: OfficialDep,
    idempotency_key: IdempotencyKeyDep = None,
) -> ActionOut:
    """An official acts on the dossier's current step. Send an `Idempotency-Key` to make a
    retried click safe: the same official, action and key are applied once."""
    structlog.contextvars.bind_contextvars(dossier_code=code)
    what = body.model_dump(mode="json", exclude_defaults=True)
    try:
        async with audited(ctx, entry(request, str(body.action), official, code, what)):
            dossier = await load_for_official(ctx, session, code, official)
            request_key = idempotency_key or request.headers.get("X-Request-Id")
            result = await apply_action(ctx, session, dossier, official, body, request_key)
    except HTTPException as exc:
        metrics.ACTIONS.labels(str(body.action), exc.status_code).inc()
        raise
    metrics.ACTIONS.labels(str(body.action), 200).inc()
    structlog.get_logger().info("official action", action=str(body.action), actor=official.username)
    return _action_out(code, result)


@router.post(
    "/{code}/withdraw", response_model=ActionOut, responses={401: {}, 404: {}, 409: {}, 503: {}}
)
async def withdraw(
    code: str,
    body: WithdrawIn,
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    lookup_key: LookupKeyDep = None,
) -> ActionOut:
    """The applicant asks to withdraw the dossier (status 7); processing stops once the desk
    confirms (status 8). Refused (409) once the result is processed."""
    structlog.contextvars.bind_contextvars(dossier_code=code)
    async with audited(ctx, entry(request, "withdraw", None, code)):
        await load_for_applicant(ctx, session, code, lookup_key)
        result = await request_withdrawal(ctx, code, body.reason)
    structlog.get_logger().info("withdrawal requested")
    return _action_out(code, result)


@router.post(
    "/{code}/supplement",
    response_model=ActionOut,
    responses={401: {}, 404: {}, 409: {}, 422: {}, 503: {}},
)
async def send_supplement(
    code: str,
    body: SupplementIn,
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    lookup_key: LookupKeyDep = None,
) -> ActionOut:
    """The applicant sends the components a supplement request (form 02) asked for; the
    dossier goes back to where it was and its clock resumes. Upload the files first
    (`POST /api/v1/files`)."""
    structlog.contextvars.bind_contextvars(dossier_code=code)
    components = [d.component for d in body.documents]
    async with audited(ctx, entry(request, "supplement", None, code, {"components": components})):
        dossier = await load_for_applicant(ctx, session, code, lookup_key)
        result = await supplement(ctx, session, dossier, body)
    structlog.get_logger().info("supplement received")
    return _action_out(code, result)


@router.get("/{code}/documents", response_model=list[DocumentPublic], responses={401: {}, 404: {}})
async def list_documents(
    code: str,
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    official: OptionalOfficialDep,
    lookup_key: LookupKeyDep = None,
) -> list[DocumentPublic]:
    """Every document the dossier was issued (forms 01–06, the result or refusal), oldest
    first."""
    await _load_to_read(ctx, session, request, code, lookup_key, official, "list_documents")
    return [
        DocumentPublic(
            id=d.id,
            kind=d.kind,
            name=d.name,
            issued_at=d.issued_at,
            sha256=d.sha256,
            url=f"/api/v1/dossiers/{code}/documents/{d.id}",
        )
        for d in await repo.documents(session, code)
    ]


@router.get(
    "/{code}/documents/{document_id}",
    responses={200: {"content": {"application/pdf": {}}}, 401: {}, 404: {}},
)
async def get_document(
    code: str,
    document_id: uuid.UUID,
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    official: OptionalOfficialDep,
    lookup_key: LookupKeyDep = None,
) -> Response:
    await _load_to_read(
        ctx,
        session,
        request,
        code,
        lookup_key,
        official,
        "read_document",
        document=str(document_id),
    )
    document = await repo.get_document(session, code, document_id)
    if document is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such document for this dossier")
    return await _pdf(session, code, document)


async def _pdf(session: AsyncSession, code: str, document: Document) -> Response:
    document = await rendered(session, document)
    assert document.content is not None and document.sha256 is not None
    return Response(
        content=document.content,
        media_type=document.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{code}-{document.kind}.pdf"',
            "X-Content-SHA256": document.sha256,
        },
    )


@router.post(
    "/{code}/rating",
    response_model=RatingPublic,
    responses={401: {}, 404: {}, 409: {}, 422: {}},
)
async def rate(
    code: str,
    body: RatingIn,
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    lookup_key: LookupKeyDep = None,
) -> RatingPublic:
    """The applicant rates the service once the result is returned (counted in the service
    index's satisfaction figure); a later rating replaces the earlier one."""
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
    return RatingPublic(code=code, satisfaction=body.satisfaction, comment=body.comment)


@router.get("/{code}/payment", response_model=PaymentPublic, responses={401: {}, 404: {}})
async def get_payment(
    code: str, ctx: ContextDep, session: SessionDep, lookup_key: LookupKeyDep = None
) -> PaymentPublic:
    """The fee to pay and where to pay it online (once the dossier is approved)."""
    await load_for_applicant(ctx, session, code, lookup_key)
    payment = await repo.get_payment(session, code)
    if payment is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no payment requested yet")
    return PaymentPublic(
        payment_id=payment.payment_id,
        amount_vnd=payment.amount_vnd,
        status=payment.status,
        pay_url=payment.pay_url,
    )


@router.get(
    "/{code}/result",
    responses={200: {"content": {"application/pdf": {}}}, 401: {}, 403: {}, 404: {}},
)
async def get_result(
    code: str,
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    official: OptionalOfficialDep,
    lookup_key: LookupKeyDep = None,
) -> Response:
    """The result document (or the written refusal), once issued."""
    await _load_to_read(ctx, session, request, code, lookup_key, official, "read_result")
    document = await repo.get_decision_document(session, code)
    if document is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail="no result document for this dossier (yet)"
        )
    return await _pdf(session, code, document)

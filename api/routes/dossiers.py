import uuid
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request, Response, status
from pydantic import WithJsonSchema

from api import operations
from api.deps import ContextDep, LookupKeyDep, OfficialDep, OptionalOfficialDep, SessionDep
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
from api.status import dossier_status, step_public
from store import dossiers as repo
from workflows.messages import ActionResult

router = APIRouter(prefix="/api/v1/dossiers", tags=["dossiers"])

_KEY_LENGTH, _KEY_PATTERN = (8, 128), r"^[\x21-\x7e]+$"
_KEY_DESCRIPTION = "Send the same key when retrying: the request takes effect once"
IdempotencyKeyDep = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=_KEY_LENGTH[0],
        max_length=_KEY_LENGTH[1],
        pattern=_KEY_PATTERN,
        description=_KEY_DESCRIPTION,
    ),
    # Optional (absent: no key) but never `null`, which no header can be: the schema says a
    # string of these bounds, where FastAPI's would have been `anyOf` it or null.
    WithJsonSchema(
        {
            "type": "string",
            "minLength": _KEY_LENGTH[0],
            "maxLength": _KEY_LENGTH[1],
            "pattern": _KEY_PATTERN,
            "description": _KEY_DESCRIPTION,
        }
    ),
]


def _action_out(code: str, result: ActionResult) -> ActionOut:
    return ActionOut(
        code=code,
        status_code=result.status_code,
        stage=result.stage,
        current_step=step_public(result.current_task),
    )


def _pdf_response(pdf: operations.Pdf) -> Response:
    return Response(
        content=pdf.content,
        media_type=pdf.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{pdf.filename}"',
            "X-Content-SHA256": pdf.sha256,
        },
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DossierCreated,
    responses={401: {}, 403: {}, 422: {}, 503: {}},
)
async def submit(
    body: DossierCreate,
    request: Request,
    response: Response,
    ctx: ContextDep,
    session: SessionDep,
    official: OptionalOfficialDep,
    idempotency_key: IdempotencyKeyDep = None,
) -> DossierCreated:
    """Submit a dossier. Online, no login: keep the lookup key of the answer. At the counter
    or by post (`channel`), the agency's one-stop desk registers it, with its bearer token."""
    submitted = await operations.submit(ctx, session, request, body, idempotency_key, official)
    if submitted.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    d = submitted.dossier
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
    dossier = await operations.read(
        ctx, session, request, code, lookup_key, official, "view_dossier"
    )
    return await dossier_status(ctx, session, dossier, official)


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
    request_key = idempotency_key or request.headers.get("X-Request-Id")
    result = await operations.act(ctx, session, request, code, official, body, request_key)
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
    result = await operations.withdraw(ctx, session, request, code, lookup_key, body.reason)
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
    result = await operations.send_supplement(ctx, session, request, code, lookup_key, body)
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
    await operations.read(ctx, session, request, code, lookup_key, official, "list_documents")
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
    pdf = await operations.document_pdf(
        ctx, session, request, code, lookup_key, official, document_id
    )
    return _pdf_response(pdf)


@router.get(
    "/{code}/files/{file_id}",
    responses={200: {"content": {"application/pdf": {}, "image/*": {}}}, 401: {}, 404: {}},
)
async def get_submitted_file(
    code: str,
    file_id: uuid.UUID,
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    official: OptionalOfficialDep,
    lookup_key: LookupKeyDep = None,
) -> Response:
    """A component the applicant submitted (with the dossier or a supplement), as uploaded."""
    pdf = await operations.submitted_file(
        ctx, session, request, code, lookup_key, official, file_id
    )
    return _pdf_response(pdf)


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
    await operations.rate(ctx, session, request, code, lookup_key, body)
    return RatingPublic(code=code, satisfaction=body.satisfaction, comment=body.comment)


@router.get("/{code}/payment", response_model=PaymentPublic, responses={401: {}, 404: {}})
async def get_payment(
    code: str, ctx: ContextDep, session: SessionDep, lookup_key: LookupKeyDep = None
) -> PaymentPublic:
    """The fee to pay and where to pay it online (once the dossier is approved)."""
    payment = await operations.payment(ctx, session, code, lookup_key)
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
    pdf = await operations.document_pdf(ctx, session, request, code, lookup_key, official, None)
    return _pdf_response(pdf)

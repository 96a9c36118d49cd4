"""An official's action, sent to the dossier's workflow as an update. The validator refuses a
wrong or stale action before anything is written; an accepted one is answered once the
dossier has settled. Within a time budget: an engine that does not answer gets a 503, never a
request that hangs."""

import hashlib
import uuid
from datetime import timedelta
from typing import Any

import structlog
from fastapi import HTTPException, status
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import (
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.context import AppContext
from api.errors import unprocessable
from api.schemas import ActionIn, SupplementIn
from api.security import TokenClaims
from api.submission import check_components, check_files
from domain.dossier import Action, Actor
from motcua.codec import RefusedPayloadError
from motcua.logging import bound_request_id
from store import officials
from store.db import release_connection
from store.models import Dossier
from workflows.consultation import ConsultationWorkflow
from workflows.dossier import DossierWorkflow
from workflows.messages import (
    ACTION_NOT_ALLOWED,
    INVALID_REQUEST,
    NOT_YOUR_STEP,
    REASON_REQUIRED,
    ActionRequest,
    ActionResult,
    ConsultationAnswer,
    SupplementSubmission,
    SuppliedComponent,
    WithdrawalRequest,
)

_UPDATE_ERRORS = {
    ACTION_NOT_ALLOWED: status.HTTP_409_CONFLICT,
    NOT_YOUR_STEP: status.HTTP_403_FORBIDDEN,
}


def update_id(official: TokenClaims, body: ActionIn, request_key: str | None) -> str:
    """Every action is a Temporal update with an id of ours: the client's Idempotency-Key (or
    X-Request-Id) makes a retried click the same update, which Temporal applies once; the id
    also covers who did what, so a reused key never swallows another action."""
    key = request_key or uuid.uuid4().hex
    what = f"{official.username}|{body.model_dump_json()}|{key}"
    return "act-" + hashlib.sha256(what.encode()).hexdigest()


async def apply_action(
    ctx: AppContext,
    session: AsyncSession,
    dossier: Dossier,
    official: TokenClaims,
    body: ActionIn,
    request_key: str | None,
) -> ActionResult:
    """The dossier's state after an official's action."""
    request = ActionRequest(
        str(body.action),
        official.actor,
        body.note,
        body.step_key,
        components=await _missing_components(ctx, session, dossier, body),
        assignee=await _assignee(session, body),
        new_due_at=body.new_due_at,
        departments=body.departments,
        request_id=bound_request_id(),
    )
    update = update_id(official, body, request_key)
    return await _update(ctx, session, dossier.code, DossierWorkflow.act, request, update)


async def _missing_components(
    ctx: AppContext, session: AsyncSession, dossier: Dossier, body: ActionIn
) -> list[str]:
    """A supplement request names components of the dossier's own procedure."""
    if body.action != Action.REQUEST_SUPPLEMENT:
        return []
    catalog = await ctx.pinned_catalog(session, dossier.catalog_version)
    check_components(catalog.procedures[dossier.procedure_code], body.components, "components")
    return list(dict.fromkeys(body.components))


async def _assignee(session: AsyncSession, body: ActionIn) -> Actor | None:
    if body.action != Action.REASSIGN or body.assignee is None:
        return None
    official = await officials.get_official(session, body.assignee)
    if official is None:
        raise unprocessable(f"no active official {body.assignee}", "assignee")
    return Actor(official.username, official.department, official.role)


async def supplement(
    ctx: AppContext, session: AsyncSession, dossier: Dossier, body: SupplementIn
) -> ActionResult:
    """The dossier's state once the applicant's supplement is in."""
    catalog = await ctx.pinned_catalog(session, dossier.catalog_version)
    procedure = catalog.procedures[dossier.procedure_code]
    check_components(procedure, (d.component for d in body.documents), "documents")
    await check_files(session, body.documents)
    submission = SupplementSubmission(
        [SuppliedComponent(d.component, str(d.file_id)) for d in body.documents],
        body.note,
        request_id=bound_request_id(),
    )
    # A retried supplement gets the first one's answer; a different one is refused (409).
    digest = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
    update = f"supplement-{dossier.supplement_requests}-{digest}"
    return await _update(ctx, session, dossier.code, DossierWorkflow.supplement, submission, update)


async def request_withdrawal(
    ctx: AppContext, session: AsyncSession, code: str, reason: str | None
) -> ActionResult:
    """The dossier's state once the applicant's request to withdraw is with the desk."""
    # One withdrawal per dossier, so one update id: a retry gets the first one's answer.
    return await _update(
        ctx,
        session,
        code,
        DossierWorkflow.request_withdrawal,
        WithdrawalRequest(reason, bound_request_id()),
        "withdraw",
    )


async def answer_consultation(
    ctx: AppContext,
    session: AsyncSession,
    consultation_id: str,
    official: TokenClaims,
    opinion: str,
) -> None:
    """The consulted department's opinion, to the consultation's workflow."""
    answer = ConsultationAnswer(official.actor, opinion)
    # A retried click is applied once; another answer is refused (409: answered already).
    update = "answer-" + hashlib.sha256(f"{official.username}|{opinion}".encode()).hexdigest()
    await _update(ctx, session, consultation_id, ConsultationWorkflow.answer, answer, update)


async def _update(
    ctx: AppContext,
    session: AsyncSession,
    workflow_id: str,
    update: Any,
    argument: Any,
    update_id: str | None,
) -> Any:
    budget = timedelta(milliseconds=ctx.settings.action_budget_ms)
    handle = ctx.temporal.get_workflow_handle(workflow_id)
    await release_connection(session)
    try:
        return await handle.execute_update(update, argument, id=update_id, rpc_timeout=budget)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type == REASON_REQUIRED:
            raise unprocessable(cause.message, "note") from exc
        if isinstance(cause, ApplicationError) and cause.type == INVALID_REQUEST:
            raise unprocessable(cause.message) from exc
        if isinstance(cause, ApplicationError) and cause.type in _UPDATE_ERRORS:
            raise HTTPException(_UPDATE_ERRORS[cause.type], detail=cause.message) from exc
        # E.g. a worker of an older version that does not know the update, or a workflow
        # terminated by an operator: not the client's fault, and nothing was applied.
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"the processing engine could not apply this: {exc.cause or exc}",
        ) from exc
    except WorkflowUpdateRPCTimeoutOrCancelledError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="the processing engine did not confirm this in time: look at the dossier "
            "before retrying (a retry with the same Idempotency-Key is applied once)",
        ) from exc
    except RefusedPayloadError as exc:
        # Sealed by the worker with a key this API does not hold (a rotation half done): the
        # action may have been applied, so the client looks before retrying.
        structlog.get_logger().error("engine's answer refused", error=str(exc))
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="the processing engine's answer could not be read: look at the dossier "
            "before retrying (a retry with the same Idempotency-Key is applied once)",
        ) from exc
    except RPCError as exc:
        structlog.get_logger().warning("update not delivered", error=str(exc), status=exc.status)
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise HTTPException(
                status.HTTP_409_CONFLICT, detail=f"{workflow_id} is finished: no more actions"
            ) from exc
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="the processing engine is unavailable: nothing was applied, retry later",
        ) from exc

"""An official's action, sent to the dossier's workflow as an update. The validator refuses a
wrong or stale action before anything is written; an accepted one is answered once the
dossier has settled, or — if that takes longer than the budget — with 202."""

import asyncio
import hashlib
from datetime import timedelta

from fastapi import HTTPException, status
from temporalio.client import (
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.context import AppContext
from api.schemas import ActionIn
from api.security import TokenClaims
from workflows.dossier import DossierWorkflow
from workflows.messages import (
    ACTION_NOT_ALLOWED,
    NOT_YOUR_STEP,
    REASON_REQUIRED,
    ActionRequest,
    ActionResult,
)

_UPDATE_ERRORS = {
    ACTION_NOT_ALLOWED: status.HTTP_409_CONFLICT,
    NOT_YOUR_STEP: status.HTTP_403_FORBIDDEN,
    REASON_REQUIRED: 422,
}


def update_id(official: TokenClaims, body: ActionIn, idempotency_key: str | None) -> str | None:
    """With an Idempotency-Key, a retried click gets the same update id, so Temporal applies it
    once; the id also covers who did what, so a reused key never swallows another action."""
    if not idempotency_key:
        return None
    what = f"{official.username}|{body.action}|{body.step_key}|{body.note}|{idempotency_key}"
    return "act-" + hashlib.sha256(what.encode()).hexdigest()


async def apply_action(
    ctx: AppContext,
    code: str,
    official: TokenClaims,
    body: ActionIn,
    idempotency_key: str | None,
) -> ActionResult | None:
    """The dossier's state after the action, or None if it was accepted but is still being
    applied when the budget runs out."""
    budget = timedelta(milliseconds=ctx.settings.action_budget_ms)
    request = ActionRequest(str(body.action), official.actor, body.note, body.step_key)
    handle = ctx.temporal.get_workflow_handle(code)
    try:
        update = await handle.start_update(
            DossierWorkflow.act,
            request,
            id=update_id(official, body, idempotency_key),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
            rpc_timeout=budget,
        )
        return await asyncio.wait_for(update.result(), budget.total_seconds())
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type in _UPDATE_ERRORS:
            raise HTTPException(_UPDATE_ERRORS[cause.type], detail=cause.message) from exc
        raise
    except WorkflowUpdateRPCTimeoutOrCancelledError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="the processing engine did not answer: nothing was applied, retry "
            "(with the same Idempotency-Key)",
        ) from exc
    except TimeoutError:
        return None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise HTTPException(
                status.HTTP_409_CONFLICT, detail=f"dossier {code} is finished: no more actions"
            ) from exc
        raise

"""An official's action, sent to the dossier's workflow as an update. The validator refuses a
wrong or stale action before anything is written; an accepted one is answered once the
dossier has settled. Within a time budget: an engine that does not answer gets a 503, never a
request that hangs."""

import hashlib
from datetime import timedelta
from typing import Any

from fastapi import HTTPException, status
from temporalio.client import (
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.context import AppContext
from api.errors import unprocessable
from api.schemas import ActionIn
from api.security import TokenClaims
from workflows.dossier import DossierWorkflow
from workflows.messages import (
    ACTION_NOT_ALLOWED,
    NOT_YOUR_STEP,
    REASON_REQUIRED,
    ActionRequest,
    ActionResult,
    WithdrawalRequest,
)

_UPDATE_ERRORS = {
    ACTION_NOT_ALLOWED: status.HTTP_409_CONFLICT,
    NOT_YOUR_STEP: status.HTTP_403_FORBIDDEN,
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
) -> ActionResult:
    """The dossier's state after an official's action."""
    request = ActionRequest(str(body.action), official.actor, body.note, body.step_key)
    update = update_id(official, body, idempotency_key)
    return await _update(ctx, code, DossierWorkflow.act, request, update)


async def request_withdrawal(ctx: AppContext, code: str, reason: str | None) -> ActionResult:
    """The dossier's state once the applicant's request to withdraw is with the desk."""
    # One withdrawal per dossier, so one update id: a retry gets the first one's answer.
    return await _update(
        ctx, code, DossierWorkflow.request_withdrawal, WithdrawalRequest(reason), "withdraw"
    )


async def _update(
    ctx: AppContext, code: str, update: Any, argument: Any, update_id: str | None
) -> ActionResult:
    budget = timedelta(milliseconds=ctx.settings.action_budget_ms)
    handle = ctx.temporal.get_workflow_handle(code)
    try:
        result: ActionResult = await handle.execute_update(
            update, argument, id=update_id, rpc_timeout=budget
        )
        return result
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type == REASON_REQUIRED:
            raise unprocessable(cause.message, "note") from exc
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
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise HTTPException(
                status.HTTP_409_CONFLICT, detail=f"dossier {code} is finished: no more actions"
            ) from exc
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="the processing engine is unavailable: nothing was applied, retry later",
        ) from exc

import asyncio
from datetime import timedelta

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.context import AppContext
from api.deps import ContextDep

router = APIRouter(tags=["health"])

# How long readiness waits for each dependency: a load balancer asks often.
_CHECK_SECONDS = 2
_RETRY_AFTER = "5"


@router.get("/healthz", summary="Liveness: 200 while the process answers")
async def healthz() -> dict[str, str]:
    """For a process supervisor: the API process is alive. It says nothing of the database or
    Temporal, whose outage is no reason to restart the API (it answers 503 meanwhile)."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: 200 when the database and Temporal answer, 503 naming what failed",
)
async def readyz(ctx: ContextDep) -> JSONResponse:
    """For a load balancer: whether this API can serve requests now."""
    failed: dict[str, str] = {}
    try:
        await asyncio.wait_for(_database_answers(ctx), _CHECK_SECONDS)
    except Exception as exc:  # any failure means "not ready", reported by name
        failed["database"] = type(exc).__name__
    try:
        await ctx.temporal.service_client.check_health(timeout=timedelta(seconds=_CHECK_SECONDS))
    except Exception as exc:
        failed["temporal"] = type(exc).__name__
    if failed:
        return JSONResponse(
            {"status": "unavailable", "failed": failed},
            status_code=503,
            headers={"Retry-After": _RETRY_AFTER},
        )
    return JSONResponse({"status": "ready"})


async def _database_answers(ctx: AppContext) -> None:
    async with ctx.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))

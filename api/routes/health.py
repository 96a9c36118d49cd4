from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import ContextDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="200 when the database and Temporal answer, 503 naming what failed")
async def healthz(ctx: ContextDep) -> JSONResponse:
    failed: dict[str, str] = {}
    try:
        async with ctx.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not healthy", reported by name
        failed["database"] = type(exc).__name__
    try:
        await ctx.temporal.service_client.check_health()
    except Exception as exc:
        failed["temporal"] = type(exc).__name__
    if failed:
        return JSONResponse({"status": "unavailable", "failed": failed}, status_code=503)
    return JSONResponse({"status": "ok"})

"""The API's metrics in Prometheus format, at `/metrics`: requests by route, dossiers started
by procedure and channel, officials' actions, status lookups by where they were answered from,
and — counted from the read model, at most once per `METRICS_REFRESH_SECONDS` — open and
overdue tasks by department.

Only for the scraper (`Authorization: Bearer <METRICS_TOKEN>`) and operators (their bearer
token): the counts say how busy each office is, and a scrape that anyone could send would
be a query anyone could make the database run.

(The worker's metrics come from the Temporal SDK's own Prometheus exporter, on its own port:
`WORKER_METRICS_ADDRESS`, on the internal network only.)"""

import hmac
import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from api.context import AppContext
from api.deps import ContextDep, current_operator, token_official
from store import dossiers as repo

REQUESTS = Counter("motcua_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "motcua_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DOSSIERS_STARTED = Counter(
    "motcua_dossiers_started_total", "Dossiers submitted", ["procedure", "channel"]
)
ACTIONS = Counter("motcua_actions_total", "Officials' actions", ["action", "status"])
LOOKUPS = Counter("motcua_status_lookups_total", "Status lookups", ["source"])
OPEN_TASKS = Gauge("motcua_open_tasks", "Steps waiting, by department", ["department"])
OVERDUE_TASKS = Gauge(
    "motcua_overdue_tasks", "Steps past their due time, by department", ["department"]
)

router = APIRouter(tags=["operators"])
_bearer = HTTPBearer(auto_error=False)


class TaskCounts:
    """When the task gauges were last counted (monotonic seconds; None: never), one per app:
    scrapes in between publish the gauges as they are, without a query."""

    def __init__(self) -> None:
        self.counted_at: float | None = None

    async def refresh(self, ctx: AppContext) -> None:
        now = time.monotonic()
        if self.counted_at is not None and now - self.counted_at < (
            ctx.settings.metrics_refresh_seconds
        ):
            return
        self.counted_at = now
        async with ctx.sessionmaker() as session:
            rows = await repo.tasks_by_department(session, datetime.now(UTC))
        OPEN_TASKS.clear()
        OVERDUE_TASKS.clear()
        for department, waiting, overdue in rows:
            OPEN_TASKS.labels(department).set(waiting)
            OVERDUE_TASKS.labels(department).set(overdue)


async def scraper(
    ctx: ContextDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """The scraper's METRICS_TOKEN, or an operator's bearer token; otherwise 401 (403 for
    another official's token)."""
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="the metrics need METRICS_TOKEN or an operator's bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    token = credentials.credentials
    expected = ctx.settings.metrics_token
    if expected is not None and hmac.compare_digest(
        token.encode(), expected.get_secret_value().encode()
    ):
        return
    current_operator(await token_official(ctx, token))


@router.get("/metrics", include_in_schema=False, dependencies=[Depends(scraper)])
async def metrics(request: Request, ctx: ContextDep) -> Response:
    counts: TaskCounts = request.app.state.task_counts
    await counts.refresh(ctx)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def install(app: FastAPI) -> None:
    app.state.task_counts = TaskCounts()
    app.include_router(router)

"""The API's metrics in Prometheus format, at `/metrics`: requests by route, dossiers started
by procedure and channel, officials' actions, status lookups by where they were answered from,
and — counted from the read model when scraped — open and overdue tasks by department.

(The worker's metrics come from the Temporal SDK's own Prometheus exporter, on its own port:
`WORKER_METRICS_ADDRESS`.)"""

from datetime import UTC, datetime

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from api.deps import SessionDep
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


@router.get("/metrics", include_in_schema=False)
async def metrics(session: SessionDep) -> Response:
    OPEN_TASKS.clear()
    OVERDUE_TASKS.clear()
    for department, waiting, overdue in await repo.tasks_by_department(session, datetime.now(UTC)):
        OPEN_TASKS.labels(department).set(waiting)
        OVERDUE_TASKS.labels(department).set(overdue)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

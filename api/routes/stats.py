"""The Decision 766 service index for leaders (their own agency's) and operators (every
agency's): each figure with its numerator and denominator, for dossiers received in a period,
as JSON or CSV. The figures and the rule of who sees which are api/statistics.py's (the
leaders' page shows the same)."""

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from api import statistics
from api.deps import ContextDep, OfficialDep, SessionDep
from api.security import TokenClaims
from api.statistics import FIRST_DAY, LAST_DAY, DaySnapshot, GroupIndex, ServiceIndex
from store.statistics import GroupBy

router = APIRouter(prefix="/api/v1", tags=["leaders"])

# (JSON Schema has no bounds for dates: the schema says them in words.)
_BOUNDS = f"from {FIRST_DAY} to {LAST_DAY}"
FromDay = Annotated[date, Query(alias="from", ge=FIRST_DAY, le=LAST_DAY, description=_BOUNDS)]
ToDay = Annotated[
    date,
    Query(
        alias="to",
        ge=FIRST_DAY,
        le=LAST_DAY,
        description=f"inclusive, on or after `from` and within ten years of it; {_BOUNDS}",
    ),
]


def _leader_or_operator(official: OfficialDep) -> TokenClaims:
    return statistics.check_viewer(official)


Viewer = Annotated[TokenClaims, Depends(_leader_or_operator)]


_CSV = {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "The figures"}


@router.get("/stats", response_model=ServiceIndex, responses={200: _CSV, 401: {}, 403: {}, 422: {}})
async def stats(
    ctx: ContextDep,
    session: SessionDep,
    viewer: Viewer,
    period_from: FromDay,
    period_to: ToDay,
    agency: Annotated[str | None, Query(max_length=64)] = None,
    procedure: Annotated[str | None, Query(max_length=64)] = None,
    department: Annotated[str | None, Query(max_length=64)] = None,
    output: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
) -> ServiceIndex | Response:
    """The service index for dossiers received from `from` to `to` (Vietnam dates). A
    leader's are their own agency's (403 for another's)."""
    agency = statistics.check_scope(ctx.catalog, viewer, agency, procedure, department)
    index = await statistics.index(session, period_from, period_to, agency, procedure, department)
    if output == "csv":
        return Response(statistics.csv_text(index), media_type="text/csv; charset=utf-8")
    return index


@router.get(
    "/stats/breakdown", response_model=list[GroupIndex], responses={401: {}, 403: {}, 422: {}}
)
async def stats_breakdown(
    ctx: ContextDep,
    session: SessionDep,
    viewer: Viewer,
    by: Annotated[Literal["procedure", "department"], Query()],
    period_from: FromDay,
    period_to: ToDay,
    agency: Annotated[str | None, Query(max_length=64)] = None,
) -> list[GroupIndex]:
    """Online and on-time rates per procedure, or per department (a dossier counts for each
    department it passed through), the lowest online rate first: where to push."""
    agency = statistics.check_scope(ctx.catalog, viewer, agency)
    return await statistics.breakdown(session, by, period_from, period_to, agency)


@router.get(
    "/stats/snapshots", response_model=list[DaySnapshot], responses={401: {}, 403: {}, 422: {}}
)
async def stats_snapshots(
    ctx: ContextDep,
    session: SessionDep,
    viewer: Viewer,
    scope: Annotated[GroupBy, Query()],
    key: Annotated[str, Query(min_length=1, max_length=64, description="its code")],
    period_from: FromDay,
    period_to: ToDay,
) -> list[DaySnapshot]:
    """The month-to-date service index of one agency, procedure or department as the nightly
    snapshot kept it, day by day: the trend, whatever the catalog has become since."""
    statistics.check_scope(ctx.catalog, viewer, **{scope: key})
    return await statistics.trend(session, scope, key, period_from, period_to)

"""The Decision 766 service index for leaders and operators: each figure with its numerator
and denominator, for dossiers received in a period, as JSON or CSV."""

import csv
import io
from datetime import date, datetime, time, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic import BaseModel, Field

from api.deps import OfficialDep, SessionDep
from api.security import TokenClaims
from domain.calendar import VN_TZ
from domain.dossier import LEADER_ROLE, OPERATOR_ROLE
from store.statistics import (
    GroupBy,
    IndexCounts,
    StatsFilter,
    kept_counts,
    service_index,
    service_index_by,
    snapshots,
)

router = APIRouter(prefix="/api/v1", tags=["leaders"])


class Figure(BaseModel):
    numerator: float
    denominator: int
    rate: float | None = Field(description="numerator ÷ denominator; null when nothing to count")


class Received(BaseModel):
    total: int
    online: int
    counter: int
    post: int
    individual: int
    organization: int


class ServiceIndex(BaseModel):
    period_from: date
    period_to: date = Field(description="inclusive")
    received: Received
    finished: int
    in_process: int = Field(description="not finished by the period's end")
    on_time: Figure = Field(description="2.1: finished or still open within the appointment")
    average_processing_days: Figure = Field(description="2.2: of the finished dossiers")
    online: Figure = Field(description="3.3: received online")
    online_payment: Figure = Field(description="3.6: paid online, of those with a fee")
    electronic_result: Figure = Field(description="4.1: results returned online")
    satisfaction: Figure = Field(
        description="5.4: 1 − (late + dissatisfied) ÷ received, as the decision defines it"
    )


class GroupIndex(BaseModel):
    key: str = Field(description="The procedure's code or the department's")
    received: int
    online: Figure
    on_time: Figure


class DaySnapshot(BaseModel):
    day: date = Field(description="The figures as they stood at this day's end")
    name: str = Field(description="The agency's, procedure's or department's, when it was kept")
    index: ServiceIndex = Field(description="For dossiers received from the month's first day")


# Vietnam dates; bounded, so a period's end is always a date too.
_FIRST_DAY, _LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)
FromDay = Annotated[date, Query(alias="from", ge=_FIRST_DAY, le=_LAST_DAY)]
ToDay = Annotated[date, Query(alias="to", ge=_FIRST_DAY, le=_LAST_DAY, description="inclusive")]


def _leader_or_operator(official: OfficialDep) -> TokenClaims:
    if official.role not in (LEADER_ROLE, OPERATOR_ROLE):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="this is for leaders and operators")
    return official


def _figure(numerator: float, denominator: int) -> Figure:
    rate = round(numerator / denominator, 4) if denominator else None
    return Figure(numerator=numerator, denominator=denominator, rate=rate)


@router.get("/stats", response_model=ServiceIndex, responses={401: {}, 403: {}, 422: {}})
async def stats(
    session: SessionDep,
    viewer: Annotated[TokenClaims, Depends(_leader_or_operator)],
    period_from: FromDay,
    period_to: ToDay,
    agency: Annotated[str | None, Query(max_length=64)] = None,
    procedure: Annotated[str | None, Query(max_length=64)] = None,
    department: Annotated[str | None, Query(max_length=64)] = None,
    output: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
) -> ServiceIndex | Response:
    """The service index for dossiers received from `from` to `to` (Vietnam dates)."""
    start, end = _period(period_from, period_to)
    counts = await service_index(session, StatsFilter(start, end, agency, procedure, department))
    index = index_of(counts, period_from, period_to)
    if output == "csv":
        return Response(_csv(index), media_type="text/csv; charset=utf-8")
    return index


@router.get(
    "/stats/breakdown", response_model=list[GroupIndex], responses={401: {}, 403: {}, 422: {}}
)
async def stats_breakdown(
    session: SessionDep,
    viewer: Annotated[TokenClaims, Depends(_leader_or_operator)],
    by: Annotated[Literal["procedure", "department"], Query()],
    period_from: FromDay,
    period_to: ToDay,
    agency: Annotated[str | None, Query(max_length=64)] = None,
) -> list[GroupIndex]:
    """Online and on-time rates per procedure, or per department (a dossier counts for each
    department it passed through), the lowest online rate first: where to push."""
    start, end = _period(period_from, period_to)
    groups = await service_index_by(session, StatsFilter(start, end, agency), by)
    rows = [
        GroupIndex(
            key=key,
            received=c.received,
            online=_figure(c.received_online, c.received),
            on_time=_figure(c.received - c.late, c.received),
        )
        for key, c in groups.items()
    ]
    return sorted(rows, key=lambda row: (row.online.rate or 0.0, row.key))


@router.get(
    "/stats/snapshots", response_model=list[DaySnapshot], responses={401: {}, 403: {}, 422: {}}
)
async def stats_snapshots(
    session: SessionDep,
    viewer: Annotated[TokenClaims, Depends(_leader_or_operator)],
    scope: Annotated[GroupBy, Query()],
    key: Annotated[str, Query(min_length=1, max_length=64, description="its code")],
    period_from: FromDay,
    period_to: ToDay,
) -> list[DaySnapshot]:
    """The month-to-date service index of one agency, procedure or department as the nightly
    snapshot kept it, day by day: the trend, whatever the catalog has become since."""
    _check_period(period_from, period_to)
    return [
        DaySnapshot(
            day=kept.day,
            name=kept.name,
            index=index_of(kept_counts(kept), kept.period_start.astimezone(VN_TZ).date(), kept.day),
        )
        for kept in await snapshots(session, scope, key, period_from, period_to)
    ]


def index_of(c: IndexCounts, period_from: date, period_to: date) -> ServiceIndex:
    """The figures Decision 766 defines, from the counts behind them."""
    received = c.received
    return ServiceIndex(
        period_from=period_from,
        period_to=period_to,
        received=Received(
            total=received,
            online=c.received_online,
            counter=c.received_counter,
            post=c.received_post,
            individual=c.received_individual,
            organization=c.received_organization,
        ),
        finished=c.finished,
        in_process=c.in_process,
        on_time=_figure(received - c.late, received),
        average_processing_days=_figure(round(c.processing_seconds / 86400, 4), c.finished),
        online=_figure(c.received_online, received),
        online_payment=_figure(c.paid_online, c.with_fee),
        electronic_result=_figure(c.returned_online, c.returned),
        satisfaction=_figure(received - c.late - c.dissatisfied, received),
    )


def _period(period_from: date, period_to: date) -> tuple[datetime, datetime]:
    """The instants a period of Vietnam dates (both included) runs between."""
    _check_period(period_from, period_to)
    start = datetime.combine(period_from, time.min, VN_TZ)
    return start, datetime.combine(period_to + timedelta(days=1), time.min, VN_TZ)


def _check_period(period_from: date, period_to: date) -> None:
    if period_to < period_from or (period_to - period_from).days > 3660:
        raise HTTPException(422, detail="`to` must be on or after `from`, within ten years")


def _csv(index: ServiceIndex) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["figure", "numerator", "denominator", "rate"])
    for name in (
        "on_time",
        "average_processing_days",
        "online",
        "online_payment",
        "electronic_result",
        "satisfaction",
    ):
        figure: Figure = getattr(index, name)
        writer.writerow([name, f"{figure.numerator:g}", figure.denominator, figure.rate])
    return out.getvalue()

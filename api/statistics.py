"""The Decision 766 service index as leaders read it: each figure with its numerator and
denominator, per procedure or department, and day by day from the nightly snapshots.

What the JSON API (api/routes/stats.py) and the leaders' page (api/pages/dashboard.py) both
answer from: one rule for who may see it (leaders their own agency's figures, operators
all), one reading of a period, one set of figures."""

import csv
import io
from collections.abc import Iterable
from dataclasses import fields
from datetime import date, datetime, time, timedelta
from typing import Literal

from fastapi import HTTPException, status
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from api.security import TokenClaims
from domain.calendar import VN_TZ
from domain.catalog import LoadedCatalog
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


# The figures of a ServiceIndex, in the decision's order (the CSV's rows, the page's cards).
FIGURES = (
    "on_time",
    "average_processing_days",
    "online",
    "online_payment",
    "electronic_result",
    "satisfaction",
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
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)
LONGEST_PERIOD_DAYS = 3660  # ten years


# ---- who may see it ---------------------------------------------------------------------


def may_see(official: TokenClaims) -> bool:
    """The service index is for leaders and operators."""
    return official.role in (LEADER_ROLE, OPERATOR_ROLE)


def check_viewer(official: TokenClaims) -> TokenClaims:
    if not may_see(official):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="this is for leaders and operators")
    return official


def department_agencies(catalog: LoadedCatalog, department: str) -> frozenset[str]:
    """The agencies a department works for: the one whose one-stop desk it is, or whose
    procedures' steps it takes (the catalog gives each department to one agency; a department
    it only consults, liên thông, is another agency's)."""
    c = catalog.catalog
    desks = {a.code for a in c.agencies if a.desk_department == department}
    steps = {p.agency for p in c.procedures if any(s.department == department for s in p.steps)}
    return frozenset(desks | steps)


def viewable_agencies(catalog: LoadedCatalog, official: TokenClaims) -> frozenset[str] | None:
    """Whose figures the official may see: every agency's for an operator (None), their own
    agency's for a leader (their department's), none for anyone else."""
    if official.role == OPERATOR_ROLE:
        return None
    if official.role == LEADER_ROLE:
        return department_agencies(catalog, official.department)
    return frozenset()


class OutOfScope(Exception):
    """The official asked for figures beyond their own agency's (`own`)."""

    def __init__(self, own: frozenset[str]) -> None:
        super().__init__(f"outside {sorted(own)}")
        self.own = own


def scope(
    catalog: LoadedCatalog,
    official: TokenClaims,
    agency: str | None = None,
    procedure: str | None = None,
    department: str | None = None,
) -> str | None:
    """The agency whose dossiers the figures count, for what the official asks: as asked for
    an operator (None: every agency); for a leader, their own agency (when they name none),
    and within it only (its procedures, its departments). OutOfScope otherwise.

    The one rule of the JSON API and the leaders' page."""
    own = viewable_agencies(catalog, official)
    if own is None:
        return agency
    asked = catalog.procedures.get(procedure) if procedure else None
    if (
        (agency is not None and agency not in own)
        or (procedure and (asked is None or asked.agency not in own))
        or (department and not department_agencies(catalog, department) & own)
    ):
        raise OutOfScope(own)
    if agency is None:
        if len(own) != 1:  # none, or (against the catalog's rule) several: name one
            raise OutOfScope(own)
        [agency] = own
    return agency


def check_scope(
    catalog: LoadedCatalog,
    official: TokenClaims,
    agency: str | None = None,
    procedure: str | None = None,
    department: str | None = None,
) -> str | None:
    """`scope`, with its refusal as the JSON API's 403."""
    try:
        return scope(catalog, official, agency, procedure, department)
    except OutOfScope as exc:
        own = ", ".join(sorted(exc.own)) or "none in the catalog"
        detail = f"a leader sees their own agency's figures only (agency={own})"
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=detail) from exc


# ---- periods ----------------------------------------------------------------------------


def period_is_valid(period_from: date, period_to: date) -> bool:
    """`to` on or after `from`, within ten years (each day itself between the bounds)."""
    return period_from <= period_to and (period_to - period_from).days <= LONGEST_PERIOD_DAYS


def check_period(period_from: date, period_to: date) -> None:
    if not period_is_valid(period_from, period_to):
        raise HTTPException(422, detail="`to` must be on or after `from`, within ten years")


def period(period_from: date, period_to: date) -> tuple[datetime, datetime]:
    """The instants a period of Vietnam dates (both included) runs between."""
    check_period(period_from, period_to)
    start = datetime.combine(period_from, time.min, VN_TZ)
    return start, datetime.combine(period_to + timedelta(days=1), time.min, VN_TZ)


def month_to_date(today: date) -> tuple[date, date]:
    return today.replace(day=1), today


# ---- the figures ------------------------------------------------------------------------


async def index(
    session: AsyncSession,
    period_from: date,
    period_to: date,
    agency: str | None = None,
    procedure: str | None = None,
    department: str | None = None,
) -> ServiceIndex:
    """The service index for dossiers received from `period_from` to `period_to`."""
    start, end = period(period_from, period_to)
    counts = await service_index(session, StatsFilter(start, end, agency, procedure, department))
    return index_of(counts, period_from, period_to)


async def breakdown(
    session: AsyncSession,
    by: Literal["procedure", "department"],
    period_from: date,
    period_to: date,
    agency: str | None = None,
    procedure: str | None = None,
    department: str | None = None,
) -> list[GroupIndex]:
    """Online and on-time rates per procedure, or per department (a dossier counts for each
    department it passed through), the lowest online rate first: where to push."""
    start, end = period(period_from, period_to)
    f = StatsFilter(start, end, agency, procedure, department)
    groups = await service_index_by(session, f, by)
    rows = [
        GroupIndex(
            key=key,
            received=c.received,
            online=figure(c.received_online, c.received),
            on_time=figure(c.received - c.late, c.received),
        )
        for key, c in groups.items()
    ]
    return sorted(rows, key=lambda row: (row.online.rate or 0.0, row.key))


async def trend(
    session: AsyncSession, scope: GroupBy, key: str, period_from: date, period_to: date
) -> list[DaySnapshot]:
    """The month-to-date service index of one agency, procedure or department as the nightly
    snapshot kept it, day by day: the trend, whatever the catalog has become since."""
    check_period(period_from, period_to)
    return [
        DaySnapshot(
            day=kept.day,
            name=kept.name,
            index=index_of(kept_counts(kept), kept.period_start.astimezone(VN_TZ).date(), kept.day),
        )
        for kept in await snapshots(session, scope, key, period_from, period_to)
    ]


async def trend_of_all(
    session: AsyncSession, agencies: Iterable[str], name: str, period_from: date, period_to: date
) -> list[DaySnapshot]:
    """The trend of every dossier: each night's snapshots of the agencies, added up (a dossier
    belongs to exactly one agency, and every agency is kept every night)."""
    check_period(period_from, period_to)
    days: dict[date, tuple[date, IndexCounts]] = {}
    for agency in agencies:
        for kept in await snapshots(session, "agency", agency, period_from, period_to):
            start = kept.period_start.astimezone(VN_TZ).date()
            _, total = days.get(kept.day, (start, IndexCounts.none()))
            days[kept.day] = (start, _added(total, kept_counts(kept)))
    return [
        DaySnapshot(day=day, name=name, index=index_of(counts, start, day))
        for day, (start, counts) in sorted(days.items())
    ]


def _added(a: IndexCounts, b: IndexCounts) -> IndexCounts:
    return IndexCounts(**{f.name: getattr(a, f.name) + getattr(b, f.name) for f in fields(a)})


def figure(numerator: float, denominator: int) -> Figure:
    rate = round(numerator / denominator, 4) if denominator else None
    return Figure(numerator=numerator, denominator=denominator, rate=rate)


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
        on_time=figure(received - c.late, received),
        average_processing_days=figure(round(c.processing_seconds / 86400, 4), c.finished),
        online=figure(c.received_online, received),
        online_payment=figure(c.paid_online, c.with_fee),
        electronic_result=figure(c.returned_online, c.returned),
        satisfaction=figure(received - c.late - c.dissatisfied, received),
    )


def csv_text(index: ServiceIndex) -> str:
    """The figures as CSV: one row each, with its numerator, denominator and rate."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["figure", "numerator", "denominator", "rate"])
    for name in FIGURES:
        f: Figure = getattr(index, name)
        writer.writerow([name, f"{f.numerator:g}", f.denominator, f.rate])
    return out.getvalue()

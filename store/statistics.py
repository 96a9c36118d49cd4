"""The Decision 766 service-index figures, in one SQL pass over the read model: every figure
with its numerator and denominator, for dossiers received in a period."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import Dossier, Payment, Rating, SlipEntryRow


@dataclass
class StatsFilter:
    start: datetime  # received at or after
    end: datetime  # received before; unfinished dossiers are judged at this moment
    agency: str | None = None
    procedure: str | None = None
    department: str | None = None  # dossiers one of whose steps this department held


@dataclass
class IndexCounts:
    """The counts behind every figure (api/routes/stats.py turns them into the figures)."""

    received: int
    received_online: int
    received_counter: int
    received_post: int
    received_individual: int
    received_organization: int
    finished: int
    in_process: int
    late: int
    processing_seconds: float
    with_fee: int
    paid_online: int
    returned: int
    returned_online: int
    rated: int
    dissatisfied: int


@dataclass
class GroupCounts:
    key: str
    received: int
    online: int
    late: int


async def breakdown(session: AsyncSession, f: StatsFilter, by: str) -> list[GroupCounts]:
    """Received, online and late dossiers per procedure, or per department that held one of
    their steps (a dossier counts for each department it passed through)."""
    d = Dossier
    key: Any
    if by == "procedure":
        key, source = d.procedure_code, d.__table__
    else:
        visits = select(SlipEntryRow.dossier_code, SlipEntryRow.department).distinct().subquery()
        key = visits.c.department
        source = d.__table__.join(visits, visits.c.dossier_code == d.code)
    query = select(
        key,
        func.count(),
        func.count().filter(d.channel == "online"),
        func.count().filter(_late(f)),
    ).select_from(source)
    query = query.where(d.received_at >= f.start, d.received_at < f.end).group_by(key)
    if f.agency:
        query = query.where(d.agency_code == f.agency)
    rows = await session.execute(query)
    return [GroupCounts(str(k), int(n), int(online), int(late)) for k, n, online, late in rows]


def _end_of_processing() -> Any:
    """The first of: the result issued (status 9), or the dossier done (returned, refused at
    intake, stopped)."""
    return func.least(Dossier.processed_at, Dossier.finished_at)  # LEAST skips NULLs


def _finished(f: StatsFilter) -> Any:
    end = _end_of_processing()
    return and_(end.is_not(None), end < f.end)


def _late(f: StatsFilter) -> Any:
    """2.1: the appointment (which the clock-stop of supplements has already moved) missed at
    the end of processing, or, for a dossier still open, at the period's end; or more than one
    supplement request."""
    ended_at = case((_finished(f), _end_of_processing()), else_=f.end)
    return or_(ended_at > Dossier.due_at, Dossier.supplement_requests > 1)


async def service_index(session: AsyncSession, f: StatsFilter) -> IndexCounts:
    d = Dossier
    end_of_processing, finished, late = _end_of_processing(), _finished(f), _late(f)
    # At most one payment and one rating per dossier: outer joins, not a subquery a row.
    paid_online = and_(Payment.status == "paid", Payment.via == "gateway")
    dissatisfied = Rating.satisfaction == "dissatisfied"
    rated = Rating.dossier_code.is_not(None)
    returned = d.status_code == 10
    count = func.count()
    query = (
        select(
            count.label("received"),
            count.filter(d.channel == "online").label("received_online"),
            count.filter(d.channel == "counter").label("received_counter"),
            count.filter(d.channel == "post").label("received_post"),
            count.filter(d.applicant_kind == "individual").label("received_individual"),
            count.filter(d.applicant_kind == "organization").label("received_organization"),
            count.filter(finished).label("finished"),
            count.filter(~finished).label("in_process"),
            count.filter(late).label("late"),
            func.coalesce(
                func.sum(func.extract("epoch", end_of_processing - d.received_at)).filter(finished),
                0,
            ).label("processing_seconds"),
            count.filter(d.fee_vnd > 0).label("with_fee"),
            count.filter(d.fee_vnd > 0, paid_online).label("paid_online"),
            count.filter(returned).label("returned"),
            count.filter(returned, d.delivery["method"].astext == "online").label(
                "returned_online"
            ),
            count.filter(rated).label("rated"),
            count.filter(dissatisfied).label("dissatisfied"),
        )
        .select_from(
            d.__table__.outerjoin(Payment, Payment.dossier_code == d.code).outerjoin(
                Rating, Rating.dossier_code == d.code
            )
        )
        .where(d.received_at >= f.start, d.received_at < f.end)
    )
    if f.agency:
        query = query.where(d.agency_code == f.agency)
    if f.procedure:
        query = query.where(d.procedure_code == f.procedure)
    if f.department:
        query = query.where(
            exists().where(
                SlipEntryRow.dossier_code == d.code, SlipEntryRow.department == f.department
            )
        )
    row = (await session.execute(query)).one()._mapping
    counts: dict[str, Any] = {key: int(value) for key, value in row.items()}
    counts["processing_seconds"] = float(row["processing_seconds"])
    return IndexCounts(**counts)

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


async def service_index(session: AsyncSession, f: StatsFilter) -> IndexCounts:
    d = Dossier
    # Processing ends at the first of: the result issued (status 9), or the dossier done
    # (returned, refused at intake, stopped). A dossier not ended by the period's end is
    # judged at the period's end.
    end_of_processing = func.least(d.processed_at, d.finished_at)  # LEAST skips NULLs
    finished = and_(end_of_processing.is_not(None), end_of_processing < f.end)
    ended_at = case((finished, end_of_processing), else_=f.end)
    # 2.1: the appointment (which the clock-stop of supplements has already moved) missed, or
    # more than one supplement request.
    late = or_(ended_at > d.due_at, d.supplement_requests > 1)
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

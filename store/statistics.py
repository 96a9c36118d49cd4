"""The Decision 766 service-index figures, in one SQL pass over the read model: every figure
with its numerator and denominator, for dossiers received in a period.

The queries run with PostgreSQL's JIT compiler off: compiling the expressions of an aggregate
over a year of a million dossiers took a second, longer than running it (`bench/stats.py`)."""

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import Select, and_, case, exists, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.calendar import VN_TZ
from store.models import Dossier, ServiceIndexSnapshot, SlipEntryRow

GroupBy = Literal["agency", "procedure", "department"]


@dataclass
class StatsFilter:
    start: datetime  # received at or after
    end: datetime  # received before; unfinished dossiers are judged at this moment
    agency: str | None = None
    procedure: str | None = None
    department: str | None = None  # dossiers one of whose steps this department held

    @classmethod
    def month_to_date(cls, day: date) -> "StatsFilter":
        """Dossiers received from the first of `day`'s month to the end of `day` (Vietnam)."""
        start = datetime.combine(day.replace(day=1), time.min, VN_TZ)
        return cls(start, datetime.combine(day + timedelta(days=1), time.min, VN_TZ))


@dataclass
class IndexCounts:
    """The counts behind every figure (api/statistics.py turns them into the figures)."""

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

    @classmethod
    def none(cls) -> "IndexCounts":
        """A group that received no dossier."""
        return _counts(_NOTHING)


@dataclass
class SnapshotGroup:
    scope: GroupBy
    key: str
    name: str  # as the catalog names it when the snapshot is taken
    counts: IndexCounts


_COUNT_NAMES = [f.name for f in fields(IndexCounts) if f.name != "processing_seconds"]
_NOTHING = {**dict.fromkeys(_COUNT_NAMES, 0), "processing_seconds": 0.0}


async def service_index(session: AsyncSession, f: StatsFilter) -> IndexCounts:
    query = _index_query(f, [])
    await _without_jit(session)
    row = (await session.execute(query)).one()._mapping
    return _counts(row)


async def service_index_by(
    session: AsyncSession, f: StatsFilter, by: GroupBy
) -> dict[str, IndexCounts]:
    """The same counts per agency, per procedure, or per department that held one of the
    dossiers' steps (a dossier counts for each department it passed through)."""
    key: Any
    if by == "department":
        visits = select(SlipEntryRow.dossier_code, SlipEntryRow.department).distinct().subquery()
        key = visits.c.department
        query = _index_query(f, [key.label("group_key")])
        query = query.join(visits, visits.c.dossier_code == Dossier.code)
    else:
        key = Dossier.agency_code if by == "agency" else Dossier.procedure_code
        query = _index_query(f, [key.label("group_key")])
    query = query.group_by(key)
    await _without_jit(session)
    rows = await session.execute(query)
    return {str(row.group_key): _counts(row._mapping) for row in rows}


async def save_snapshot(
    session: AsyncSession, day: date, f: StatsFilter, groups: list[SnapshotGroup]
) -> int:
    """Keep the day's figures; a day already kept keeps its first snapshot (a retried or
    repeated run writes nothing). Returns the rows written."""
    rows = [
        {
            "day": day,
            "scope": g.scope,
            "key": g.key,
            "name": g.name,
            "period_start": f.start,
            "period_end": f.end,
            "counts": asdict(g.counts),
        }
        for g in groups
    ]
    if not rows:
        return 0
    written = await session.execute(
        insert(ServiceIndexSnapshot)
        .values(rows)
        .on_conflict_do_nothing()
        .returning(ServiceIndexSnapshot.key)
    )
    return len(written.all())


async def snapshots(
    session: AsyncSession, scope: GroupBy, key: str, first: date, last: date
) -> list[ServiceIndexSnapshot]:
    """The kept snapshots of one agency, procedure or department, day by day."""
    rows = await session.scalars(
        select(ServiceIndexSnapshot)
        .where(
            ServiceIndexSnapshot.scope == scope,
            ServiceIndexSnapshot.key == key,
            ServiceIndexSnapshot.day.between(first, last),
        )
        .order_by(ServiceIndexSnapshot.day)
    )
    return list(rows)


def kept_counts(snapshot: ServiceIndexSnapshot) -> IndexCounts:
    """A snapshot's counts (one kept before a count was added has it as 0)."""
    return _counts(_NOTHING | snapshot.counts)


def _index_query(f: StatsFilter, keys: list[Any]) -> Select[Any]:
    d = Dossier
    end_of_processing, finished, late = _end_of_processing(), _finished(f), _late(f)
    returned = and_(d.status_code == 10, d.finished_at < f.end)  # by the period's end
    count = func.count()
    query = (
        select(
            *keys,
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
            count.filter(d.fee_vnd > 0, d.paid_online).label("paid_online"),
            count.filter(returned).label("returned"),
            count.filter(returned, d.delivery["method"].astext == "online").label(
                "returned_online"
            ),
            count.filter(d.satisfaction.is_not(None)).label("rated"),
            count.filter(d.satisfaction == "dissatisfied").label("dissatisfied"),
        )
        .select_from(d)
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
    return query


def _counts(row: Mapping[str, Any]) -> IndexCounts:
    counts = {name: int(row[name]) for name in _COUNT_NAMES}
    return IndexCounts(**counts, processing_seconds=float(row["processing_seconds"]))


async def _without_jit(session: AsyncSession) -> None:
    await session.execute(text("SET LOCAL jit = off"))  # for this transaction only


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

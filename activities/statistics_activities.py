"""The daily snapshot of the service index (Decision 766), for ServiceIndexSnapshotWorkflow."""

from dataclasses import dataclass
from datetime import date

from temporalio import activity

from domain.catalog import LoadedCatalog
from store.catalog import latest_catalog
from store.db import Sessionmaker
from store.statistics import (
    GroupBy,
    IndexCounts,
    SnapshotGroup,
    StatsFilter,
    save_snapshot,
    service_index_by,
)

SCOPES: tuple[GroupBy, ...] = ("agency", "procedure", "department")


@dataclass
class SnapshotRequest:
    day: str  # a Vietnam day, as "2025-03-31": the figures stand at its end


@dataclass
class SnapshotResult:
    day: str
    groups: int  # the catalog's agencies, and procedures and departments with dossiers
    written: int  # 0 when the day had been kept already


class StatisticsActivities:
    def __init__(self, sessionmaker: Sessionmaker) -> None:
        self._sessionmaker = sessionmaker

    @activity.defn
    async def take_snapshot(self, request: SnapshotRequest) -> SnapshotResult:
        """The month-to-date counts at the end of `request.day`, per agency, procedure and
        department, named as the catalog names them when it runs (the next night, unless
        caught up later), kept once. Every agency of the catalog gets its row, dossiers or
        not, so a day missing from an agency's trend is a night the snapshot did not run."""
        day = date.fromisoformat(request.day)
        f = StatsFilter.month_to_date(day)
        async with self._sessionmaker.begin() as session:
            catalog = await latest_catalog(session)
            names = _names(catalog)
            groups: list[SnapshotGroup] = []
            for scope in SCOPES:
                counted = await service_index_by(session, f, scope)
                if scope == "agency":
                    counted = {code: IndexCounts.none() for code in names["agency"]} | counted
                groups += [
                    SnapshotGroup(scope, key, names[scope].get(key, key), counts)
                    for key, counts in counted.items()
                ]
            written = await save_snapshot(session, day, f, groups)
        return SnapshotResult(request.day, len(groups), written)


def _names(catalog: LoadedCatalog | None) -> dict[GroupBy, dict[str, str]]:
    """Codes to names, per scope (a code the catalog no longer has keeps its code)."""
    if catalog is None:
        return {"agency": {}, "procedure": {}, "department": {}}
    c = catalog.catalog
    return {
        "agency": {a.code: a.name for a in c.agencies},
        "procedure": {p.code: p.name for p in c.procedures},
        "department": {d.code: d.name for d in c.departments},
    }

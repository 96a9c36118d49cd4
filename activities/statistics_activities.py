"""The daily snapshot of the service index (Decision 766), for ServiceIndexSnapshotWorkflow."""

from dataclasses import dataclass
from datetime import date

from temporalio import activity

from domain.catalog import LoadedCatalog
from store.catalog import latest_catalog
from store.db import Sessionmaker
from store.statistics import GroupBy, SnapshotGroup, StatsFilter, save_snapshot, service_index_by

SCOPES: tuple[GroupBy, ...] = ("agency", "procedure", "department")


@dataclass
class SnapshotRequest:
    day: str  # a Vietnam day, as "2025-03-31": the figures stand at its end


@dataclass
class SnapshotResult:
    day: str
    groups: int  # agencies, procedures and departments with dossiers this month
    written: int  # 0 when the day had been kept already


class StatisticsActivities:
    def __init__(self, sessionmaker: Sessionmaker) -> None:
        self._sessionmaker = sessionmaker

    @activity.defn
    async def take_snapshot(self, request: SnapshotRequest) -> SnapshotResult:
        """The month-to-date counts at the end of `request.day`, per agency, procedure and
        department, named as today's catalog names them, kept once."""
        day = date.fromisoformat(request.day)
        f = StatsFilter.month_to_date(day)
        async with self._sessionmaker.begin() as session:
            catalog = await latest_catalog(session)
            groups = [
                SnapshotGroup(scope, key, _name(catalog, scope, key), counts)
                for scope in SCOPES
                for key, counts in (await service_index_by(session, f, scope)).items()
            ]
            written = await save_snapshot(session, day, f, groups)
        return SnapshotResult(request.day, len(groups), written)


def _name(catalog: LoadedCatalog | None, scope: GroupBy, key: str) -> str:
    if catalog is None:
        return key
    names: dict[str, str] = {
        "agency": {a.code: a.name for a in catalog.catalog.agencies},
        "procedure": {p.code: p.name for p in catalog.catalog.procedures},
        "department": {d.code: d.name for d in catalog.catalog.departments},
    }[scope]
    return names.get(key, key)  # a code the catalog no longer has keeps its code

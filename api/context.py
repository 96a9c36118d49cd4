"""What the API builds once at start-up and shares across requests."""

from dataclasses import dataclass, field

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from temporalio.client import Client

from domain.calendar import CalendarSpec
from domain.catalog import Catalog, LoadedCatalog
from motcua.settings import Settings
from store.catalog import catalog_content
from store.db import Sessionmaker


@dataclass
class AppContext:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: Sessionmaker
    temporal: Client
    catalog: LoadedCatalog
    http: httpx.AsyncClient
    _pinned: dict[str, LoadedCatalog] = field(default_factory=dict)
    _calendars: dict[int, CalendarSpec] = field(default_factory=dict)

    def calendar_spec(self, year: int) -> CalendarSpec:
        """The working calendar a dossier received in `year` carries for its whole life."""
        if year not in self._calendars:
            self._calendars[year] = CalendarSpec.for_period(
                year,
                office_hours=self.settings.office_hours,
                extra_days_off=self.settings.extra_days_off,
                makeup_working_days=self.settings.makeup_working_days,
            )
        return self._calendars[year]

    async def pinned_catalog(self, session: AsyncSession, version: str) -> LoadedCatalog:
        """The catalog version a dossier was submitted under (immutable, so cached)."""
        if version == self.catalog.version:
            return self.catalog
        if version not in self._pinned:
            content = await catalog_content(session, version)
            if content is None:
                raise LookupError(f"catalog version {version} is not recorded")
            self._pinned[version] = LoadedCatalog(Catalog.model_validate(content))
        return self._pinned[version]

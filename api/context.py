"""What the API builds once at start-up and shares across requests."""

from dataclasses import dataclass, field

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from temporalio.client import Client

from domain.calendar import WorkingCalendar
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
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)
    _pinned: dict[str, LoadedCatalog] = field(default_factory=dict)

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

"""What the API builds once at start-up and shares across requests."""

import asyncio
import time
from dataclasses import dataclass, field

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from temporalio.client import Client

from domain.calendar import CalendarSpec
from domain.catalog import Catalog, LoadedCatalog
from motcua.settings import Settings
from store.catalog import catalog_content
from store.db import Sessionmaker
from store.officials import token_version

# Passwords checked at once per API process (each argon2 verification takes a thread, a core's
# tens of milliseconds and 64 MiB): a burst of logins waits its turn instead.
PASSWORD_CHECKS_AT_ONCE = 2


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
    # By username: when it was read (monotonic seconds) and the official's token version.
    _token_versions: dict[str, tuple[float, int | None]] = field(default_factory=dict)
    password_checks: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(PASSWORD_CHECKS_AT_ONCE)
    )

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

    async def token_version(self, username: str) -> int | None:
        """The official's current token version (None: no active official of that name), as
        read at most TOKEN_CHECK_SECONDS ago: most requests cost no query, and a token of an
        official deactivated, moved or given a new password is refused that late at most."""
        now = time.monotonic()
        known = self._token_versions.get(username)
        if known is not None and now - known[0] < self.settings.token_check_seconds:
            return known[1]
        async with self.sessionmaker() as session:
            version = await token_version(session, username)
        self._token_versions[username] = (now, version)
        return version

"""Catalog versions as pinned by dossiers."""

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.catalog import Catalog, LoadedCatalog
from store.models import CatalogVersion


async def record_catalog_version(session: AsyncSession, catalog: LoadedCatalog) -> None:
    await session.execute(
        insert(CatalogVersion)
        .values(version=catalog.version, content=catalog.content)
        # Loaded again (an older version brought back): it is the current one from now.
        .on_conflict_do_update(index_elements=["version"], set_={"loaded_at": func.now()})
    )


async def catalog_content(session: AsyncSession, version: str) -> dict[str, Any] | None:
    return await session.scalar(
        select(CatalogVersion.content).where(CatalogVersion.version == version)
    )


async def latest_catalog(session: AsyncSession) -> LoadedCatalog | None:
    """The catalog most recently loaded by the API: the names agencies, procedures and
    departments go by today."""
    content = await session.scalar(
        select(CatalogVersion.content).order_by(CatalogVersion.loaded_at.desc()).limit(1)
    )
    return LoadedCatalog(Catalog.model_validate(content)) if content is not None else None

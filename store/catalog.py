"""Catalog versions as pinned by dossiers."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.catalog import LoadedCatalog
from store.models import CatalogVersion


async def record_catalog_version(session: AsyncSession, catalog: LoadedCatalog) -> None:
    await session.execute(
        insert(CatalogVersion)
        .values(version=catalog.version, content=catalog.content)
        .on_conflict_do_nothing(index_elements=["version"])
    )


async def catalog_content(session: AsyncSession, version: str) -> dict[str, Any] | None:
    return await session.scalar(
        select(CatalogVersion.content).where(CatalogVersion.version == version)
    )

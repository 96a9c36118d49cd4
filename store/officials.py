"""Officials who log in to work their department's queue."""

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import Official


async def get_official(session: AsyncSession, username: str) -> Official | None:
    return await session.scalar(
        select(Official).where(Official.username == username, Official.active.is_(True))
    )


async def upsert_official(
    session: AsyncSession, username: str, password_hash: str, department: str, role: str
) -> None:
    values = {"password_hash": password_hash, "department": department, "role": role}
    await session.execute(
        insert(Official)
        .values(username=username, **values)
        .on_conflict_do_update(index_elements=["username"], set_=values)
    )


async def colleagues(session: AsyncSession, department: str, role: str) -> list[Official]:
    """The active officials of a department and role: whom a step can be handed to."""
    rows = await session.scalars(
        select(Official)
        .where(Official.department == department, Official.role == role, Official.active.is_(True))
        .order_by(Official.username)
    )
    return list(rows)

"""Officials who log in to work their department's queue."""

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import Official


async def get_official(session: AsyncSession, username: str) -> Official | None:
    return await session.scalar(
        select(Official).where(Official.username == username, Official.active.is_(True))
    )


async def upsert_official(
    session: AsyncSession,
    username: str,
    password_hash: str,
    department: str,
    role: str,
    full_name: str | None = None,
) -> None:
    values = {"password_hash": password_hash, "department": department, "role": role}
    # A name given elsewhere is kept when none is given here (re-seeding the demo accounts).
    if full_name is not None:
        values["full_name"] = full_name
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


async def full_names(session: AsyncSession, usernames: Iterable[str]) -> dict[str, str]:
    """The full names of these officials, by username, in one query (those without one, or
    no official at all, are left out: the caller shows the username)."""
    wanted = sorted(set(usernames))
    if not wanted:
        return {}
    rows = await session.execute(
        select(Official.username, Official.full_name).where(
            Official.username.in_(wanted), Official.full_name.is_not(None)
        )
    )
    return {username: name for username, name in rows.all() if name}

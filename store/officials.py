"""Officials who log in to work their department's queue."""

from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import Official


async def get_official(session: AsyncSession, username: str) -> Official | None:
    return await session.scalar(
        select(Official).where(Official.username == username, Official.active.is_(True))
    )


async def token_version(session: AsyncSession, username: str) -> int | None:
    """The version every live token of the official carries; None for no active official."""
    return await session.scalar(
        select(Official.token_version).where(
            Official.username == username, Official.active.is_(True)
        )
    )


async def upsert_official(
    session: AsyncSession,
    username: str,
    password_hash: str,
    department: str,
    role: str,
    full_name: str | None = None,
) -> None:
    """A new official, or one saved again: active, with this password, department and role,
    and no session from before (their tokens' version moves on)."""
    values = {"password_hash": password_hash, "department": department, "role": role}
    # A name given elsewhere is kept when none is given here (re-seeding the demo accounts).
    if full_name is not None:
        values["full_name"] = full_name
    again = {**values, "active": True, "token_version": Official.token_version + 1}
    await session.execute(
        insert(Official)
        .values(username=username, **values)
        .on_conflict_do_update(index_elements=["username"], set_=again)
    )


async def deactivate_official(session: AsyncSession, username: str) -> bool:
    """The official may no longer log in, and their tokens are refused; False: no such
    official."""
    result = await session.execute(
        update(Official)
        .where(Official.username == username)
        .values(active=False, token_version=Official.token_version + 1)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def move_official(session: AsyncSession, username: str, department: str, role: str) -> bool:
    """The official now works in this department and role; their tokens (which name the old
    ones) are refused. False: no such official."""
    result = await session.execute(
        update(Official)
        .where(Official.username == username)
        .values(department=department, role=role, token_version=Official.token_version + 1)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


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

"""Failed attempts (logins, lookups) counted per key and minute, for throttling."""

from datetime import datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert

from store.db import Sessionmaker
from store.models import FailedAttempt


async def count_since(sessionmaker: Sessionmaker, key: str, since: datetime) -> int:
    async with sessionmaker() as session:
        total = await session.scalar(
            select(func.coalesce(func.sum(FailedAttempt.count), 0)).where(
                FailedAttempt.key == key, FailedAttempt.minute >= since
            )
        )
    return int(total or 0)


async def record(sessionmaker: Sessionmaker, keys: list[str], forget_before: timedelta) -> None:
    """One more failure for each key; counts older than `forget_before` are dropped."""
    async with sessionmaker.begin() as session:
        minute = func.date_trunc("minute", func.now())
        await session.execute(
            insert(FailedAttempt)
            .values([{"key": key, "minute": minute, "count": 1} for key in keys])
            .on_conflict_do_update(
                index_elements=["key", "minute"], set_={"count": FailedAttempt.count + 1}
            )
        )
        await session.execute(
            text("DELETE FROM failed_attempts WHERE key = ANY(:keys) AND minute < now() - :age"),
            {"keys": keys, "age": forget_before},
        )

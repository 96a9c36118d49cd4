"""Engine and session factory, built once per process (API lifespan, worker start)."""

import psycopg
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession

Sessionmaker = async_sessionmaker[AsyncSession]

# The database unavailable, not the request or the write at fault: connection refused or lost,
# the pool exhausted, through SQLAlchemy or psycopg directly.
DATABASE_OUTAGE = (OperationalError, InterfaceError, PoolTimeout, psycopg.OperationalError)


def async_url(database_url: str) -> str:
    """Accept the usual `postgresql://` form and use psycopg 3 for it."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix) :]
    return database_url


def create_engine(database_url: str, pool_size: int = 10) -> AsyncEngine:
    # No pre-ping: it costs a round trip per transaction. A connection broken by a database
    # restart fails once; activities retry, and the API answers 503 for that request.
    # hide_parameters: a database error's message never carries the values (personal data)
    # into a log line or a workflow's failure.
    return create_async_engine(
        async_url(database_url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        hide_parameters=True,
    )


def create_sessionmaker(engine: AsyncEngine) -> Sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


async def release_connection(session: AsyncSession) -> None:
    """End the session's transaction (a request's reads), handing its connection back to the
    pool before the request waits on something else: an engine call waits up to its budget,
    and requests holding a connection meanwhile, each then asking for a second one (the audit
    trail's), took every connection of the pool under load and answered 503. The session
    goes on, on another connection, if the request reads again."""
    await session.commit()

"""PostgreSQL down under a running worker: its activities and its outbox dispatcher keep
retrying, and its log says "database unavailable" once when the outage starts and "database
reachable again" once when it ends — not a warning and a traceback per attempt."""

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.notifications import OutboxDispatcher
from activities.outage import DatabaseOutage, DatabaseOutageInterceptor
from motcua.logging import configure_logging
from motcua.settings import Settings
from store.db import Sessionmaker, create_engine, create_sessionmaker
from store.migrate import migrate
from tests.conftest import database_outage

# Retries as fast as the server allows: many attempts fail within a short outage.
_QUICKLY = RetryPolicy(initial_interval=timedelta(milliseconds=50), backoff_coefficient=1)


@workflow.defn(sandboxed=False)  # its module imports what the sandbox refuses; it is a test's
class ReadsTheDatabase:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(
            "read_the_database",
            start_to_close_timeout=timedelta(seconds=5),
            retry_policy=_QUICKLY,
        )


@pytest.fixture
async def outage_database(settings: Settings) -> AsyncIterator[tuple[str, Sessionmaker]]:
    """A database of its own on the session's server (whose own database stays up), migrated:
    its name and a sessionmaker on it."""
    name = f"motcua_worker_outage_{uuid.uuid4().hex[:8]}"
    admin = settings.require_database_url()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    engine = create_engine(make_url(admin).set(database=name).render_as_string(False), 2)
    await migrate(engine)
    yield name, create_sessionmaker(engine)
    await engine.dispose()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def worker_logging(settings: Settings) -> Iterator[None]:
    """The worker's logging (structlog through the standard library), set before pytest
    starts capturing the test's records."""
    configure_logging(settings.log_format, "INFO")
    yield


async def test_an_outage_is_logged_once_not_per_retry(
    settings: Settings,
    temporal_env: WorkflowEnvironment,
    outage_database: tuple[str, Sessionmaker],
    worker_logging: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="temporalio.activity")
    name, sessionmaker = outage_database
    attempts = 0
    failed_five_times = asyncio.Event()  # and the dispatcher polled about twenty times meanwhile

    @activity.defn(name="read_the_database")
    async def read_the_database() -> None:
        nonlocal attempts
        attempts += 1
        if attempts > 5:
            failed_five_times.set()
        async with sessionmaker() as session:
            await session.execute(text("SELECT 1"))

    outage = DatabaseOutage()
    dispatcher = OutboxDispatcher(sessionmaker, [], outage)
    stop = asyncio.Event()
    task_queue = f"outage-{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(database_outage, settings, name, True)
    async with Worker(
        temporal_env.client,
        task_queue=task_queue,
        workflows=[ReadsTheDatabase],
        activities=[read_the_database],
        interceptors=[DatabaseOutageInterceptor(outage)],
    ):
        polling = asyncio.create_task(dispatcher.run(stop, interval_seconds=0.05))
        reading = asyncio.create_task(
            temporal_env.client.execute_workflow(
                ReadsTheDatabase.run, id=task_queue, task_queue=task_queue
            )
        )
        await asyncio.wait_for(failed_five_times.wait(), 30)
        assert not reading.done()
        await asyncio.to_thread(database_outage, settings, name, False)
        async with asyncio.timeout(30):
            await reading
        await asyncio.sleep(0.2)  # a few more polls, now answered
        stop.set()
        await polling

    def lines(event: str) -> list[dict[str, Any]]:
        """The fields of each line of `event` at INFO or above."""
        return [
            _fields(r)
            for r in caplog.records
            if r.levelno >= logging.INFO and _fields(r)["event"] == event
        ]

    [down] = lines("database unavailable")
    assert down["error"] == "OperationalError"
    [back] = lines("database reachable again")
    assert back["after_s"] > 0
    assert lines("Completing activity as failed") == []  # the SDK's line per attempt
    assert lines("outbox delivery failed") == []
    # The failures themselves are still there, at debug level, one per attempt.
    failed = [r for r in caplog.records if _fields(r)["event"] == "Completing activity as failed"]
    assert len(failed) == attempts - 1


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """Our lines carry structlog's event dict; the SDK's, a message."""
    return record.msg if isinstance(record.msg, dict) else {"event": record.getMessage()}

"""The Temporal worker: runs dossier workflows and their activities, and the nightly snapshot
of the service index (whose schedule it creates at start).

python worker.py        # with DATABASE_URL and TEMPORAL_ADDRESS set (`motcua run` does it)
"""

import asyncio
import signal
from collections.abc import Callable
from typing import Any

import httpx
import structlog
from temporalio.client import Client
from temporalio.worker import Worker

from activities.dossier_activities import DossierActivities
from activities.notifications import OutboxDispatcher, senders_from
from activities.payment_gateway import SandboxGateway
from activities.statistics_activities import StatisticsActivities
from motcua.logging import configure_logging
from motcua.schedules import ensure_schedules
from motcua.settings import Settings, get_settings
from motcua.temporal import connect_temporal, leave, worker_runtime
from store.db import Sessionmaker, create_engine, create_sessionmaker
from workflows.consultation import ConsultationWorkflow
from workflows.dossier import DossierWorkflow
from workflows.service_index_snapshot import ServiceIndexSnapshotWorkflow

log = structlog.get_logger()

WORKFLOWS = [DossierWorkflow, ConsultationWorkflow, ServiceIndexSnapshotWorkflow]


def activities_of(
    activities: DossierActivities, statistics: StatisticsActivities
) -> list[Callable[..., Any]]:
    return [
        activities.record_transition,
        activities.request_payment,
        activities.record_desk_payment,
        activities.settle_payment_on_withdrawal,
        activities.issue_document,
        activities.record_supplement,
        activities.record_consultation,
        statistics.take_snapshot,
    ]


def build_worker(
    client: Client, sessionmaker: Sessionmaker, settings: Settings, **options: Any
) -> Worker:
    """The worker of `worker.py`; `options` go to the Worker as they are (the tests' other
    builds, interceptors, cache sizes)."""
    if not settings.sandbox_gateway:
        raise RuntimeError(
            "no payment gateway configured: SANDBOX_GATEWAY=true enables the demo gateway "
            "(the only adapter so far)"
        )
    activities = DossierActivities(
        sessionmaker,
        SandboxGateway(sessionmaker, settings.public_base_url),
        settings.document_key.get_secret_value().encode(),
    )
    defaults: dict[str, Any] = {
        "task_queue": settings.temporal_task_queue,
        "workflows": WORKFLOWS,
        "activities": activities_of(activities, StatisticsActivities(sessionmaker)),
    }
    return Worker(client, **(defaults | options))


async def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    engine = create_engine(settings.require_database_url(), settings.db_pool_size)
    sessionmaker = create_sessionmaker(engine)
    client = await connect_temporal(settings, worker_runtime(settings.worker_metrics_address))
    worker = build_worker(client, sessionmaker, settings)
    await ensure_schedules(client, settings.temporal_task_queue)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker started", task_queue=settings.temporal_task_queue)
    async with worker, httpx.AsyncClient(timeout=30) as http:
        senders = senders_from(settings, http)
        if senders:
            log.info("delivering notifications", channels=[s.channel for s in senders])
            dispatcher = OutboxDispatcher(sessionmaker, senders)
            await dispatcher.run(stop, settings.outbox_poll_seconds)
        else:
            await stop.wait()
        log.info("worker stopping")
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
    leave(0)

"""The Temporal worker: runs dossier workflows and their activities, and the nightly snapshot
of the service index (whose schedule it creates at start).

python worker.py                  # with DATABASE_URL, TEMPORAL_ADDRESS set (`motcua run` does it)
python worker.py --name worker-2  # histories name it in their identities: worker-2@host:pid
"""

import argparse
import asyncio
import compileall
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import structlog
from temporalio.client import Client
from temporalio.worker import Worker

from activities.dossier_activities import DossierActivities
from activities.notifications import OutboxDispatcher, senders_from
from activities.outage import DatabaseOutage, DatabaseOutageInterceptor
from activities.payment_gateway import PaymentGateway, SandboxGateway
from activities.payment_settlement import PaymentReconciliation
from activities.statistics_activities import StatisticsActivities
from activities.upload_activities import UploadActivities
from activities.vnpay import VnpayAccount, VnpayGateway
from motcua.logging import configure_logging
from motcua.schedules import ensure_schedules
from motcua.settings import RefusedToStart, Settings, get_settings
from motcua.temporal import connect_temporal, leave, worker_runtime
from store.db import Sessionmaker, create_engine, create_sessionmaker
from workflows.consultation import ConsultationWorkflow
from workflows.dossier import DossierWorkflow
from workflows.payment_reconciliation import PaymentReconciliationWorkflow
from workflows.service_index_snapshot import ServiceIndexSnapshotWorkflow
from workflows.unattached_uploads import UnattachedUploadsWorkflow

log = structlog.get_logger()

WORKFLOWS = [
    DossierWorkflow,
    ConsultationWorkflow,
    ServiceIndexSnapshotWorkflow,
    PaymentReconciliationWorkflow,
    UnattachedUploadsWorkflow,
]
WORKFLOWS_DIR = Path(__file__).resolve().parent / "workflows"


def activities_of(
    activities: DossierActivities, statistics: StatisticsActivities, uploads: UploadActivities
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
        uploads.delete_unattached_uploads,
    ]


def cache_workflow_bytecode() -> None:
    """Compile the workflow modules' bytecode, where it is missing or stale.

    The sandbox imports them afresh for every dossier it brings into memory (a cache miss, a
    replay): from Python's bytecode cache when there is one, else compiled from source each
    time. PYTHONDONTWRITEBYTECODE (set in our image, and in many shells) stops Python from
    writing that cache, and compiling took a seventh of the worker's CPU when most dossiers
    were out of its cache. Where the code cannot be written (a read-only image), the image
    compiled it when it was built."""
    compileall.compile_dir(WORKFLOWS_DIR, quiet=2)


def build_worker(
    client: Client, sessionmaker: Sessionmaker, settings: Settings, **options: Any
) -> Worker:
    """The worker of `worker.py`; `options` go to the Worker as they are (the tests' other
    builds, interceptors, cache sizes)."""
    cache_workflow_bytecode()
    settings.refuse_unusable_gateway()
    gateway: PaymentGateway
    extra: list[Callable[..., Any]] = []
    if settings.payment_gateway == "vnpay":
        gateway = VnpayGateway(settings.public_base_url)
        # Its querydr client lives as long as the worker's process.
        http = httpx.AsyncClient(timeout=30)
        reconciliation = PaymentReconciliation(sessionmaker, VnpayAccount.of(settings), http)
        extra.append(reconciliation.reconcile_payments)
    else:
        gateway = SandboxGateway(sessionmaker, settings.public_base_url)
    activities = DossierActivities(
        sessionmaker, gateway, settings.document_key.get_secret_value().encode()
    )
    defaults: dict[str, Any] = {
        "task_queue": settings.temporal_task_queue,
        "workflows": WORKFLOWS,
        "activities": activities_of(
            activities,
            StatisticsActivities(sessionmaker),
            UploadActivities(sessionmaker, settings.files_dir),
        )
        + extra,
        "max_cached_workflows": settings.workflow_cache_size,
    }
    return Worker(client, **(defaults | options))


async def main(name: str) -> None:
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    settings.refuse_demo_secrets()
    engine = create_engine(settings.require_database_url(), settings.db_pool_size)
    sessionmaker = create_sessionmaker(engine)
    # With several workers, the histories say which one ran each task.
    identity = f"{name}@{socket.gethostname()}:{os.getpid()}"
    runtime = worker_runtime(settings.worker_metrics_address)
    client = await connect_temporal(settings, runtime, identity)
    # One outage, told once in the log, whichever of the activities and outbox polls sees it.
    outage = DatabaseOutage()
    worker = build_worker(
        client, sessionmaker, settings, interceptors=[DatabaseOutageInterceptor(outage)]
    )
    vnpay = settings.payment_gateway == "vnpay"
    reconcile_after = settings.payment_reconcile_minutes if vnpay else None
    await ensure_schedules(client, settings.temporal_task_queue, reconcile_after)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker started", task_queue=settings.temporal_task_queue, identity=identity)
    async with worker, httpx.AsyncClient(timeout=30) as http:
        senders = senders_from(settings, http)
        if senders:
            log.info("delivering notifications", channels=[s.channel for s in senders])
            dispatcher = OutboxDispatcher(sessionmaker, senders, outage)
            await dispatcher.run(stop, settings.outbox_poll_seconds)
        else:
            await stop.wait()
        log.info("worker stopping")
    await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--name", default="worker", help="names it in the histories' identities")
    try:
        asyncio.run(main(parser.parse_args().name))
    except RefusedToStart as refusal:
        print(f"error: {refusal}", file=sys.stderr, flush=True)
        leave(1)
    leave(0)

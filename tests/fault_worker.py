"""A worker that is killed (SIGKILL) right after the payment gateway created a payment and
before the activity reported it: the worst moment for "charge exactly once".

    python -m tests.fault_worker     # configured by the environment, as worker.py
"""

import asyncio
import os
import signal

from temporalio.worker import Worker

from activities.dossier_activities import DossierActivities
from activities.payment_gateway import GatewayPayment, SandboxGateway
from activities.statistics_activities import StatisticsActivities
from activities.upload_activities import UploadActivities
from motcua.settings import get_settings
from motcua.temporal import connect_temporal
from store.db import create_engine, create_sessionmaker
from worker import WORKFLOWS, activities_of


class _DiesAfterTheCharge(SandboxGateway):
    async def create_payment(self, merchant_ref: str, amount_vnd: int) -> GatewayPayment:
        created = await super().create_payment(merchant_ref, amount_vnd)
        os.kill(os.getpid(), signal.SIGKILL)
        return created


async def main() -> None:
    settings = get_settings()
    sessionmaker = create_sessionmaker(create_engine(settings.require_database_url(), 2))
    gateway = _DiesAfterTheCharge(sessionmaker, settings.public_base_url)
    key = settings.document_key.get_secret_value().encode()
    worker = Worker(
        await connect_temporal(settings),
        task_queue=settings.temporal_task_queue,
        workflows=WORKFLOWS,
        activities=activities_of(
            DossierActivities(sessionmaker, gateway, key),
            StatisticsActivities(sessionmaker),
            UploadActivities(sessionmaker, settings.files_dir),
        ),
    )
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main())

"""The Temporal Schedules motcua runs by: the nightly snapshot of the service index, and, with
VNPAY, the reconciliation of its payments every few minutes; and the hourly sweep of uploads
no dossier took. The worker creates them at start (or brings them up to date), so a new
cluster needs no extra step."""

from datetime import timedelta

import structlog
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from activities.payment_settlement import ReconcileRequest
from workflows.payment_reconciliation import PaymentReconciliationWorkflow
from workflows.service_index_snapshot import (
    ServiceIndexSnapshotInput,
    ServiceIndexSnapshotWorkflow,
)
from workflows.unattached_uploads import UnattachedUploadsWorkflow

SNAPSHOT_SCHEDULE_ID = "service-index-snapshot"
RECONCILIATION_SCHEDULE_ID = "payment-reconciliation"
UPLOAD_SWEEP_SCHEDULE_ID = "unattached-uploads"

log = structlog.get_logger()


def snapshot_schedule(task_queue: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ServiceIndexSnapshotWorkflow.run,
            ServiceIndexSnapshotInput(),
            id=SNAPSHOT_SCHEDULE_ID,  # Temporal appends the scheduled time
            task_queue=task_queue,
        ),
        # 00:30 in Vietnam (UTC+7, no daylight saving), when the day before has ended.
        spec=ScheduleSpec(
            calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(17)], minute=[ScheduleRange(30)])]
        ),
        # A cluster down for up to a week still takes the days it missed, and the nights a
        # worker was down queue up behind the first (one run at a time; each keeps its own day).
        policy=SchedulePolicy(
            catchup_window=timedelta(days=7), overlap=ScheduleOverlapPolicy.BUFFER_ALL
        ),
    )


def reconciliation_schedule(task_queue: str, older_than_minutes: int) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            PaymentReconciliationWorkflow.run,
            ReconcileRequest(older_than_minutes),
            id=RECONCILIATION_SCHEDULE_ID,
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(minutes=5))]),
        # A run missed while the cluster was down is not worth catching up: the next asks.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


def upload_sweep_schedule(task_queue: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            UnattachedUploadsWorkflow.run, id=UPLOAD_SWEEP_SCHEDULE_ID, task_queue=task_queue
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
        # Hours missed while the cluster was down need no run each: the next sweeps them all.
        policy=SchedulePolicy(
            catchup_window=timedelta(hours=1), overlap=ScheduleOverlapPolicy.SKIP
        ),
    )


async def ensure_schedules(
    client: Client, task_queue: str, reconcile_after_minutes: int | None = None
) -> None:
    """The schedules; the reconciliation's when `reconcile_after_minutes` is given (VNPAY)."""
    schedules = {
        SNAPSHOT_SCHEDULE_ID: snapshot_schedule(task_queue),
        UPLOAD_SWEEP_SCHEDULE_ID: upload_sweep_schedule(task_queue),
    }
    if reconcile_after_minutes is not None:
        schedules[RECONCILIATION_SCHEDULE_ID] = reconciliation_schedule(
            task_queue, reconcile_after_minutes
        )
    for schedule_id, schedule in schedules.items():
        await _ensure(client, schedule_id, schedule)


async def _ensure(client: Client, schedule_id: str, schedule: Schedule) -> None:
    try:
        await client.create_schedule(schedule_id, schedule)
        log.info("schedule created", schedule_id=schedule_id)
    except ScheduleAlreadyRunningError:

        def replace(current: ScheduleUpdateInput) -> ScheduleUpdate:
            schedule.state = current.description.schedule.state  # e.g. an operator's pause
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id).update(replace)

"""The Temporal Schedules motcua runs by: the nightly snapshot of the service index. The worker
creates it at start (or brings it up to date), so a new cluster needs no extra step."""

from datetime import timedelta

import structlog
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from workflows.service_index_snapshot import (
    ServiceIndexSnapshotInput,
    ServiceIndexSnapshotWorkflow,
)

SNAPSHOT_SCHEDULE_ID = "service-index-snapshot"

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


async def ensure_schedules(client: Client, task_queue: str) -> None:
    schedule = snapshot_schedule(task_queue)
    try:
        await client.create_schedule(SNAPSHOT_SCHEDULE_ID, schedule)
        log.info("schedule created", schedule_id=SNAPSHOT_SCHEDULE_ID)
    except ScheduleAlreadyRunningError:

        def replace(current: ScheduleUpdateInput) -> ScheduleUpdate:
            schedule.state = current.description.schedule.state  # e.g. an operator's pause
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(SNAPSHOT_SCHEDULE_ID).update(replace)

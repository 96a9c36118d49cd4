"""The daily snapshot of the service index: started every night by the `service-index-snapshot`
Temporal Schedule (see `motcua/schedules.py`), or by hand for a given day."""

from dataclasses import dataclass
from datetime import date, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.statistics_activities import (
        SnapshotRequest,
        SnapshotResult,
        StatisticsActivities,
    )
    from domain.calendar import VN_TZ

# Set by Temporal on the workflows a schedule starts: the time it was due to start, which a
# late or caught-up run still takes its day from.
_SCHEDULED_AT = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


@dataclass
class ServiceIndexSnapshotInput:
    # The Vietnam day to keep, as "2025-03-31" (Temporal's JSON has no dates); by default the
    # day before the run.
    day: str | None = None


@workflow.defn
class ServiceIndexSnapshotWorkflow:
    @workflow.run
    async def run(self, input: ServiceIndexSnapshotInput) -> SnapshotResult:
        try:
            day = date.fromisoformat(input.day) if input.day else self._yesterday()
        except ValueError:
            raise ApplicationError(f"not a day: {input.day!r}", non_retryable=True) from None
        if day >= workflow.now().astimezone(VN_TZ).date():
            # Kept once, the figures of a day not yet over would stand in for the whole day.
            raise ApplicationError(f"{day} has not ended yet", non_retryable=True)
        return await workflow.execute_activity_method(
            StatisticsActivities.take_snapshot,
            SnapshotRequest(day.isoformat()),
            start_to_close_timeout=timedelta(minutes=10),
            # Given up after a few hours, so a run that keeps failing does not hold back the
            # nights queued behind it.
            schedule_to_close_timeout=timedelta(hours=4),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)),
        )

    @staticmethod
    def _yesterday() -> date:
        started = workflow.info().typed_search_attributes.get(_SCHEDULED_AT) or workflow.now()
        return started.astimezone(VN_TZ).date() - timedelta(days=1)

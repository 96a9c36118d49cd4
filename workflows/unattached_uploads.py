"""The hourly sweep of uploads no dossier took: started by the `unattached-uploads` Temporal
Schedule (see `motcua/schedules.py`), or by hand."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.upload_activities import UploadActivities, UploadSweepResult


@workflow.defn
class UnattachedUploadsWorkflow:
    @workflow.run
    async def run(self) -> UploadSweepResult:
        return await workflow.execute_activity_method(
            UploadActivities.delete_unattached_uploads,
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=timedelta(minutes=2),
            # Given up before the next hour's run, which takes up whatever is left.
            schedule_to_close_timeout=timedelta(minutes=55),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)),
        )

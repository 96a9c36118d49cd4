"""Reconciliation of payments at the real gateway: started every few minutes by the
`payment-reconciliation` Temporal Schedule (`motcua/schedules.py`), it asks VNPAY about the
attempts no IPN has settled (activities/payment_settlement.py)."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.payment_settlement import (
        PaymentReconciliation,
        ReconcileRequest,
        ReconcileResult,
    )


@workflow.defn
class PaymentReconciliationWorkflow:
    @workflow.run
    async def run(self, request: ReconcileRequest) -> ReconcileResult:
        return await workflow.execute_activity_method(
            PaymentReconciliation.reconcile_payments,
            request,
            start_to_close_timeout=timedelta(minutes=3),
            heartbeat_timeout=timedelta(seconds=60),
            # Given up before the next run is due: that one asks again.
            schedule_to_close_timeout=timedelta(minutes=4),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
        )

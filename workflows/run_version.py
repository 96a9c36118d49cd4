"""Which code a workflow run follows, decided once, in its first activation.

Two kinds of run share today's code:

- Runs started since `CURRENT` was introduced record its patch marker as their very first
  command. All behaviour is on for them, no other `patched` call is made, and every write to
  our database is a regular activity: its result is a history event, so the code after it runs
  in the same workflow task live and on replay.
- Runs started before (legacy) replay the code they were started with: writes are local
  activities, and each later behaviour is asked for with `workflow.patched` at the very place
  it always was, since its marker sits there in their histories.

Why writes moved out of local activities (README, "Replay, and workflow-task boundaries"): a
local activity's result is not a history event. Since temporalio 1.32, a worker can complete
the workflow task that records a local activity's marker before the workflow has run on from
its result (when it answers a query that came with the task meanwhile), and hand the result
over in the next task; on replay the result comes in the task that recorded the marker. The
code after a local activity then runs in one task live and in the task before on replay: with
another `workflow.now()`, before or after the inputs that came with the next task, and with
`patched` answered from the other task's markers. The first activation, where `CURRENT` is
asked, is the first task's both live and on replay, and nothing precedes it.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

CURRENT = "activity-writes"
# Runs started since this marker publish their latest transition's number as the search
# attribute `TransitionSeq`: the API then answers a lookup from the read model when it holds
# that transition and the workflow has nothing in flight (api/status.py).
TRANSITION_SEQ = "transition-seq"

# The payment gateway's call (and legacy runs' local-activity writes).
ACTIVITY_TIMEOUT = timedelta(seconds=30)
# A write to our database takes milliseconds. The start-to-close timeout is how Temporal
# learns that the worker running one died, and tries it again elsewhere: it bounds how long a
# worker's crash holds a dossier still (30 s made the longest stall of bench/chaos.py 37 s).
WRITE_TIMEOUT = timedelta(seconds=10)
# Activities (our writes, the payment gateway) retry until they succeed: the database or the
# gateway coming back is the normal end of an outage.
ACTIVITY_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30))


@dataclass(frozen=True)
class RunVersion:
    current: bool
    publishes_transition_seq: bool

    @staticmethod
    def decide() -> "RunVersion":
        """Call first thing in the run, before any command (and only there)."""
        return RunVersion(
            current=workflow.patched(CURRENT),
            publishes_transition_seq=workflow.patched(TRANSITION_SEQ),
        )

    def patched(self, patch_id: str) -> bool:
        """Whether a behaviour added while legacy runs were running applies to this run."""
        return self.current or workflow.patched(patch_id)

    async def write(self, activity: Callable[..., Any], arg: Any) -> Any:
        """One idempotent write to the read model (or the payments, documents…)."""
        if self.current:
            return await workflow.execute_activity_method(
                activity, arg, start_to_close_timeout=WRITE_TIMEOUT, retry_policy=ACTIVITY_RETRY
            )
        return await workflow.execute_local_activity_method(
            activity, arg, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=ACTIVITY_RETRY
        )

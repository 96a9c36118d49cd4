"""What crosses the dossier workflow's boundary: its input, the officials' action, the
gateway's confirmation, and the error types the API maps to HTTP statuses.

Kept out of the workflow module so that the workflow sandbox passes it through: the data
converter then sees the real `datetime` in the type hints, not the sandbox's proxy.
"""

from dataclasses import dataclass
from datetime import datetime

from domain.calendar import CalendarSpec
from domain.dossier import Actor, ProcedureSnapshot, Task

# Error types the API maps to HTTP statuses.
ACTION_NOT_ALLOWED = "ActionNotAllowed"  # 409: the action does not fit the current step
NOT_YOUR_STEP = "NotYourStep"  # 403: the step belongs to another department or role
REASON_REQUIRED = "ReasonRequired"  # 422: a negative decision without a reason


@dataclass
class DossierInput:
    code: str
    procedure: ProcedureSnapshot
    channel: str
    applicant_kind: str
    delivery_method: str
    received_at: datetime
    due_at: datetime
    # Pinned at submission, like the procedure: the deadlines never move with a later change.
    calendar: CalendarSpec


@dataclass
class ActionRequest:
    action: str
    actor: Actor
    note: str | None = None
    # The step the official saw when acting; set, it makes a stale click fail instead of
    # landing on whatever step the dossier has moved to since.
    step_key: str | None = None


@dataclass
class WithdrawalRequest:
    """The applicant asks to withdraw the dossier (they are identified by the API)."""

    reason: str | None = None


@dataclass
class ActionResult:
    status_code: int
    stage: str
    current_task: Task | None


@dataclass
class PaymentConfirmation:
    """The gateway's verified callback, forwarded by the API."""

    payment_id: str
    amount_vnd: int
    paid_at: datetime


@dataclass
class DossierOutcome:
    status_code: int
    outcome: str

"""What crosses the dossier workflow's boundary: its input, the officials' action, the
gateway's confirmation, and the error types the API maps to HTTP statuses.

Kept out of the workflow module so that the workflow sandbox passes it through: the data
converter then sees the real `datetime` in the type hints, not the sandbox's proxy.
"""

from dataclasses import dataclass, field
from datetime import datetime

from domain.calendar import CalendarSpec
from domain.dossier import Actor, ProcedureSnapshot, Task

# Error types the API maps to HTTP statuses.
ACTION_NOT_ALLOWED = "ActionNotAllowed"  # 409: the action does not fit the current step
NOT_YOUR_STEP = "NotYourStep"  # 403: the step belongs to another department or role
REASON_REQUIRED = "ReasonRequired"  # 422: a negative decision without a reason
INVALID_REQUEST = "InvalidRequest"  # 422: e.g. a new appointment that is not later


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
    # The API request that sent this (its X-Request-Id; so in each message below): the
    # worker's log line of the transition it causes carries it, to follow it with one grep.
    request_id: str | None = None


@dataclass
class ActionRequest:
    action: str
    actor: Actor
    note: str | None = None
    # The step the official saw when acting; set, it makes a stale click fail instead of
    # landing on whatever step the dossier has moved to since.
    step_key: str | None = None
    # request_supplement: the codes of the missing components (the note says the rest).
    components: list[str] = field(default_factory=list)
    # reassign: the official of the step's department and role who takes it over.
    assignee: Actor | None = None
    # extend: the new appointment date of the apology (form 04).
    new_due_at: datetime | None = None
    # consult: which of the step's consulted departments to ask (empty: all of them).
    departments: list[str] = field(default_factory=list)
    request_id: str | None = None  # (as DossierInput's)


@dataclass
class WithdrawalRequest:
    """The applicant asks to withdraw the dossier (they are identified by the API)."""

    reason: str | None = None
    request_id: str | None = None  # (as DossierInput's)


@dataclass
class SuppliedComponent:
    component_code: str
    file_id: str


@dataclass
class SupplementSubmission:
    """What the applicant sends back after a supplement request (file references only)."""

    components: list[SuppliedComponent]
    note: str | None = None
    request_id: str | None = None  # (as DossierInput's)


@dataclass
class ConsultationInput:
    """One department asked for its opinion by a review step (liên thông)."""

    dossier_code: str
    step_key: str
    department: str
    role: str
    question: str | None
    asked_at: datetime
    due_at: datetime


@dataclass
class ConsultationAnswer:
    actor: Actor
    opinion: str


@dataclass
class ConsultationOutcome:
    department: str
    answered_by: str | None = None  # None: no answer within the allotted time
    opinion: str | None = None


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
    request_id: str | None = None  # (as DossierInput's)


@dataclass
class DossierOutcome:
    status_code: int
    outcome: str

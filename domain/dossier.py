"""The dossier's vocabulary: stages, national status codes, actions, and the shapes that travel
between the API, the workflow and the activities (plain dataclasses, so Temporal's default data
converter carries them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum


class Stage(StrEnum):
    INTAKE = "intake"
    ROUTING = "routing"
    REVIEW = "review"
    PAYMENT = "payment"
    DELIVERY = "delivery"
    DONE = "done"


class StatusCode(IntEnum):
    """Statuses synchronised with the National Public Service Portal."""

    SUBMITTED = 1
    ACCEPTED = 2
    REFUSED = 3
    IN_PROCESS = 4
    SUPPLEMENT_REQUESTED = 5
    PAYMENT_REQUESTED = 6
    WITHDRAWAL_REQUESTED = 7
    STOPPED = 8
    PROCESSED = 9
    RESULT_RETURNED = 10


class Action(StrEnum):
    """What an official may do to a dossier."""

    ACCEPT = "accept"
    REFUSE = "refuse"
    APPROVE = "approve"
    REJECT = "reject"
    RETURN = "return"  # send the dossier back to the previous review step
    CONFIRM_PAYMENT = "confirm_payment"
    DELIVER = "deliver"
    CONFIRM_WITHDRAWAL = "confirm_withdrawal"
    # Asides: the step stays where it is.
    REQUEST_SUPPLEMENT = "request_supplement"  # form 02: the applicant completes the dossier
    CONSULT = "consult"  # ask other departments for opinions (liên thông)
    REASSIGN = "reassign"  # hand the step to another official of the department
    EXTEND = "extend"  # the desk's apology with a new appointment date (form 04)


ACTIONS_BY_STAGE: dict[Stage, frozenset[Action]] = {
    Stage.INTAKE: frozenset(
        {Action.ACCEPT, Action.REFUSE, Action.REQUEST_SUPPLEMENT, Action.REASSIGN}
    ),
    Stage.REVIEW: frozenset(
        {
            Action.APPROVE,
            Action.REJECT,
            Action.RETURN,
            Action.REQUEST_SUPPLEMENT,
            Action.CONSULT,
            Action.REASSIGN,
        }
    ),
    Stage.PAYMENT: frozenset({Action.CONFIRM_PAYMENT, Action.REASSIGN}),
    Stage.DELIVERY: frozenset({Action.DELIVER, Action.REASSIGN}),
}

# A negative decision must say why; so must a supplement request (what is missing, in one
# list) and an apology (why the appointment cannot be met).
ACTIONS_NEEDING_REASON = frozenset(
    {Action.REFUSE, Action.REJECT, Action.RETURN, Action.REQUEST_SUPPLEMENT, Action.EXTEND}
)

# The head of a department may act for its officials in these.
HEAD_ROLE = "head"
# Operators run the system (the Temporal UI, its payload codec); they act on no dossier.
OPERATIONS, OPERATOR_ROLE = "OPS", "operator"
# Leaders sign results, and watch the service index.
LEADER_ROLE = "leader"


class Outcome(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"  # negative decision at review: a written refusal is the result
    REFUSED = "refused"  # not accepted at intake
    WITHDRAWN = "withdrawn"  # the applicant withdrew it; processing stopped


class Channel(StrEnum):
    ONLINE = "online"
    COUNTER = "counter"
    POST = "post"


class DeliveryMethod(StrEnum):
    ONLINE = "online"
    POST = "post"
    COUNTER = "counter"


class SlipAction(StrEnum):
    """Entries of the processing control slip besides the officials' own actions."""

    SUBMITTED = "submitted"
    ROUTED = "routed"
    STEP_STARTED = "step_started"
    STEP_OVERDUE = "step_overdue"
    PAYMENT_REQUESTED = "payment_requested"
    PAID = "paid"
    RESULT_ISSUED = "result_issued"
    RESULT_PUBLISHED = "result_published"
    WITHDRAWAL_REQUESTED = "withdrawal_requested"
    STEP_REMINDED = "step_reminded"  # 75% of the step's allotted time has passed
    SUPPLEMENTED = "supplemented"  # the applicant sent what was missing; the clock resumes
    CONSULTATION_ANSWERED = "consultation_answered"
    CONSULTATION_UNANSWERED = "consultation_unanswered"


class DocumentKind(StrEnum):
    """The documents a dossier can be issued, with the national form numbers."""

    RECEIPT = "receipt"  # form 01: receipt and appointment slip
    SUPPLEMENT_REQUEST = "supplement_request"  # form 02
    INTAKE_REFUSAL = "intake_refusal"  # form 03
    APOLOGY = "apology"  # form 04: apology with a new appointment date
    CONTROL_SLIP = "control_slip"  # forms 05/06
    RESULT = "result"
    REFUSAL = "refusal"  # a negative decision at review


def pays_through_gateway(level: str, channel: str) -> bool:
    """Full-online dossiers pay online; the rest pay at the desk."""
    return level == "full" and channel == Channel.ONLINE


@dataclass
class StepSpec:
    key: str
    name: str
    department: str
    role: str
    hours: float
    # Departments this step may ask for opinions, and the working hours they have to answer.
    consults: list[ConsultSpec] = field(default_factory=list)


@dataclass
class ConsultSpec:
    department: str
    role: str
    hours: float


@dataclass
class ProcedureSnapshot:
    """The procedure as pinned by a dossier at submission."""

    code: str
    name: str
    agency_code: str
    desk_department: str
    desk_role: str
    intake_hours: float
    level: str
    fee_vnd: int
    processing_days: float
    catalog_version: str
    steps: list[StepSpec]


@dataclass
class Task:
    """Who holds the dossier now, and until when."""

    step_key: str
    step_name: str
    department: str
    role: str
    started_at: datetime
    due_at: datetime | None
    # The official the step was handed to; unset, anyone of the department and role may act.
    assignee: str | None = None
    # When the assignee is reminded (75% of the allotted time), and whether the reminder and
    # the escalation at the due time already went out.
    remind_at: datetime | None = None
    reminded: bool = False
    overdue: bool = False


# The one-stop desk's own steps, around the procedure's internal process.
WITHDRAWAL_STEP = "withdrawal"
SUPPLEMENT_STEP = "supplement"
DESK_STEP_NAMES = {
    Stage.INTAKE: "Tiếp nhận hồ sơ",
    Stage.PAYMENT: "Thu phí, lệ phí",
    Stage.DELIVERY: "Trả kết quả",
    WITHDRAWAL_STEP: "Xác nhận rút hồ sơ",
}
SUPPLEMENT_STEP_NAME = "Bổ sung, hoàn thiện hồ sơ"
APPLICANT_ROLE = "applicant"

REMINDER_SHARE = 0.75  # of a step's allotted time, when its assignee is reminded


def desk_task(
    procedure: ProcedureSnapshot, step_key: str, started_at: datetime, due_at: datetime | None
) -> Task:
    return Task(
        step_key=str(step_key),
        step_name=DESK_STEP_NAMES[step_key],
        department=procedure.desk_department,
        role=procedure.desk_role,
        started_at=started_at,
        due_at=due_at,
    )


@dataclass
class Actor:
    username: str
    department: str
    role: str


SYSTEM_ACTOR = "system"


@dataclass
class SlipEntry:
    """One line of the processing control slip (form 05/06)."""

    seq: int
    step_key: str
    department: str
    actor: str
    action: str
    at: datetime
    note: str | None = None
    # Whether a finished step was early / on time / late against its due time.
    timeliness: str | None = None


@dataclass
class DossierState:
    """What the workflow query answers: where the dossier is, and how it got there."""

    code: str
    procedure_code: str
    status_code: int
    stage: str
    outcome: str
    current_task: Task | None
    received_at: datetime
    due_at: datetime
    finished_at: datetime | None
    history: list[SlipEntry] = field(default_factory=list)
    # Decision 766: the time spent supplementing is not counted, and a second request for a
    # supplement makes the dossier late.
    supplement_requests: int = 0
    supplement_hours: float = 0.0

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


ACTIONS_BY_STAGE: dict[Stage, frozenset[Action]] = {
    Stage.INTAKE: frozenset({Action.ACCEPT, Action.REFUSE}),
    Stage.REVIEW: frozenset({Action.APPROVE, Action.REJECT, Action.RETURN}),
    Stage.PAYMENT: frozenset({Action.CONFIRM_PAYMENT}),
    Stage.DELIVERY: frozenset({Action.DELIVER}),
}

# A negative decision must say why.
ACTIONS_NEEDING_REASON = frozenset({Action.REFUSE, Action.REJECT, Action.RETURN})


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


# The one-stop desk's own steps, around the procedure's internal process.
WITHDRAWAL_STEP = "withdrawal"
DESK_STEP_NAMES = {
    Stage.INTAKE: "Tiếp nhận hồ sơ",
    Stage.PAYMENT: "Thu phí, lệ phí",
    Stage.DELIVERY: "Trả kết quả",
    WITHDRAWAL_STEP: "Xác nhận rút hồ sơ",
}


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

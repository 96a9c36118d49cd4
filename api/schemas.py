"""Request and response bodies. Requests reject unknown fields; clients never set status,
department, fee or actor."""

import math
import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonDict

from domain.calendar import VN_TZ
from domain.dossier import Action, Channel, DeliveryMethod
from domain.forms import DEFAULT_MAX_LENGTH, TEXT_TYPES, FieldType


def _vietnam_time(value: datetime) -> str:
    return value.astimezone(VN_TZ).isoformat()


# Times are shown in Vietnam's time (+07:00), as they are on the slips and in the law's
# deadlines, whatever zone they were stored in.
LocalDatetime = Annotated[datetime, PlainSerializer(_vietnam_time, return_type=str)]


_MAX_DEPTH = 32


def _refuse_unstorable(value: Any, where: str = "body", depth: int = 0) -> None:
    """Text PostgreSQL cannot store (NUL, lone surrogates), numbers JSON cannot carry
    (infinities, NaN) and absurd nesting are refused up front, anywhere in a request."""
    if depth > _MAX_DEPTH:
        raise ValueError(f"{where}: nested more than {_MAX_DEPTH} levels deep")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{where}: text must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{where}: text is not valid Unicode") from None
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}: numbers must be finite")
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_unstorable(key, where, depth + 1)
            _refuse_unstorable(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_unstorable(item, f"{where}[{index}]", depth + 1)


# Free text that must say something: at least one character that is not white space. (Values
# are kept as sent, not stripped: a schema's length limits then mean what they say.)
TEXT = r"\S"


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        _refuse_unstorable(data)
        return data


# ---- procedures ---------------------------------------------------------------------------


class ComponentPublic(BaseModel):
    code: str
    name: str
    required: bool
    help: str | None = Field(default=None, description="What the component is, to prepare it")


class FormFieldPublic(BaseModel):
    """One field of the procedure's declaration form (tờ khai), as `form` must fill it."""

    name: str = Field(description="The key of this field in the submission's `form`")
    label: str
    type: FieldType = Field(
        description="text, textarea, address: text; number: a number, or text such as "
        "'1,5' or '500.000.000'; date: 'yyyy-mm-dd' or 'dd/mm/yyyy'; choice: one of `choices`"
    )
    required: bool
    choices: list[str]
    help: str | None
    max_length: int | None = Field(description="Longest text taken (text types only)")
    minimum: float | None
    maximum: float | None
    integer: bool = Field(description="A number without fraction")
    not_future: bool = Field(description="A date not after today (Vietnam's day)")

    @model_validator(mode="before")
    @classmethod
    def _effective_max_length(cls, data: Any) -> Any:
        # The catalog may leave it to the type's default; a client is told the actual limit.
        kind = data.get("type", "text") if isinstance(data, dict) else None
        if kind in TEXT_TYPES and not data.get("max_length"):
            return {**data, "max_length": DEFAULT_MAX_LENGTH[kind]}
        return data


class ConsultPublic(BaseModel):
    department: str
    role: str
    hours: float


class StepSpecPublic(BaseModel):
    key: str
    name: str
    department: str
    role: str
    hours: float
    consults: list[ConsultPublic] = Field(
        description="Departments this step may ask for opinions (liên thông)"
    )


class ProcedurePublic(BaseModel):
    code: str
    name: str
    agency: str
    level: Literal["partial", "full"]
    fee_vnd: int
    processing_days: float
    audience: str | None = Field(description="Who the procedure is for")
    components: list[ComponentPublic]
    steps: list[StepSpecPublic]
    form: list[FormFieldPublic] = Field(
        description="The declaration form: the fields a submission's `form` fills in"
    )


# ---- files --------------------------------------------------------------------------------


class FilePublic(BaseModel):
    file_id: uuid.UUID
    sha256: str
    size: int
    content_type: str


# ---- submission ---------------------------------------------------------------------------

# The applicant's number, by kind; in the schema too (`if`/`then`/`else`), so that it says
# exactly which bodies the API takes. ASCII digits only: Python's `\d` takes any script's.
_CCCD = "[0-9]{12}"
_TAX_CODE = "[0-9]{10}(-[0-9]{3})?"
_ID_NUMBER_BY_KIND: JsonDict = {
    "if": {"properties": {"kind": {"const": "individual"}}},
    "then": {"properties": {"id_number": {"pattern": f"^{_CCCD}$"}}},
    "else": {"properties": {"id_number": {"pattern": f"^{_TAX_CODE}$"}}},
}


class ApplicantIn(_Request):
    model_config = ConfigDict(json_schema_extra=_ID_NUMBER_BY_KIND)

    kind: Literal["individual", "organization"]
    full_name: str = Field(min_length=1, max_length=200, pattern=TEXT)
    id_number: str = Field(
        description="12-digit citizen ID (CCCD) for an individual, tax code for an organisation"
    )
    phone: str = Field(pattern=r"^\+?\d{9,15}$")
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    address: str = Field(min_length=1, max_length=500, pattern=TEXT)

    @model_validator(mode="after")
    def _check_id_number(self) -> "ApplicantIn":
        if self.kind == "individual" and not re.fullmatch(_CCCD, self.id_number):
            raise ValueError("id_number of an individual must be the 12-digit citizen ID (CCCD)")
        if self.kind == "organization" and not re.fullmatch(_TAX_CODE, self.id_number):
            raise ValueError(
                "id_number of an organization must be its tax code (10 or 10-3 digits)"
            )
        return self


class DocumentRef(_Request):
    component: str = Field(min_length=1, max_length=64)
    file_id: uuid.UUID


class DeliveryIn(_Request):
    method: DeliveryMethod
    address: str | None = Field(default=None, min_length=1, max_length=500, pattern=TEXT)

    @model_validator(mode="after")
    def _post_needs_address(self) -> "DeliveryIn":
        if self.method == DeliveryMethod.POST and not self.address:
            raise ValueError("delivery by post needs an address")
        return self


class DossierCreate(_Request):
    procedure_code: str = Field(min_length=1, max_length=64)
    channel: Channel
    applicant: ApplicantIn
    form: dict[str, Any] = Field(
        default_factory=dict,
        description="The declaration form: a value for each field of the procedure's `form` "
        "(GET /api/v1/procedures/{code}), checked against it",
    )
    documents: list[DocumentRef] = Field(default_factory=list, max_length=100)
    delivery: DeliveryIn

    @field_validator("form")
    @classmethod
    def _form_is_small(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(str(value)) > 20_000:
            raise ValueError("form is too large (20,000 characters at most)")
        return value


class DossierCreated(BaseModel):
    code: str
    lookup_key: str = Field(description="Keep it: with the code, it lets you follow the dossier")
    status_code: int
    received_at: LocalDatetime
    due_at: LocalDatetime


# ---- status -------------------------------------------------------------------------------


class StepPublic(BaseModel):
    key: str
    name: str
    department: str
    role: str
    assignee: str | None = None
    started_at: LocalDatetime
    due_at: LocalDatetime | None


class HistoryEntry(BaseModel):
    step: str
    department: str
    action: str
    actor: str
    at: LocalDatetime
    note: str | None
    timeliness: str | None = None


class ApplicantPublic(BaseModel):
    kind: str
    full_name: str
    id_number: str = Field(description="Whole for the one-stop desk, masked for anyone else")
    phone: str
    email: str | None
    address: str


class DossierPublic(BaseModel):
    code: str
    procedure_code: str
    status_code: int = Field(ge=1, le=10, description="National status list, 1–10")
    stage: Literal["intake", "routing", "review", "payment", "delivery", "done"]
    outcome: str
    current_step: StepPublic | None
    applicant: ApplicantPublic
    received_at: LocalDatetime
    due_at: LocalDatetime
    finished_at: LocalDatetime | None
    overdue: bool = Field(description="Past its appointment (due_at), or finished after it")
    supplement_requests: int = Field(
        description="Supplements asked for; a second one makes the dossier late (Decision 766)"
    )
    supplement_hours: float = Field(
        description="Working hours the clock stood still while the applicant supplemented"
    )
    late: bool = Field(
        description="Late under Decision 766: past the appointment (finished after it, or "
        "unfinished and past it now), or asked for a supplement more than once"
    )
    history: list[HistoryEntry]
    source: Literal["recorded", "live", "snapshot", "final"] = Field(
        description="recorded: from the read model, which the engine showed to hold the "
        "workflow's latest transition with nothing in flight; live: answered by the running "
        "workflow; snapshot: from the read model, when the workflow could not answer in time; "
        "final: the dossier is finished and this is its complete record"
    )
    as_of: LocalDatetime


# ---- officials ----------------------------------------------------------------------------


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    department: str
    role: str


class ActionIn(_Request):
    action: Action
    note: str | None = Field(
        default=None,
        max_length=2000,
        description="The reason (refuse, reject, return, extend) or what is missing "
        "(request_supplement)",
    )
    step_key: str | None = Field(
        default=None,
        max_length=64,
        description="The step you are acting on; if the dossier has moved on, the action is "
        "refused (409) instead of landing on another step",
    )
    components: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list,
        max_length=50,
        description="request_supplement: codes of the missing components",
    )
    assignee: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="reassign: the username of the official who takes the step over",
    )
    new_due_at: AwareDatetime | None = Field(
        default=None, description="extend: the new appointment (with its UTC offset)"
    )
    departments: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list,
        max_length=20,
        description="consult: which of the step's consulted departments to ask (default all)",
    )

    @model_validator(mode="after")
    def _fields_fit_the_action(self) -> "ActionIn":
        needs = {
            Action.REASSIGN: ("assignee", self.assignee),
            Action.EXTEND: ("new_due_at", self.new_due_at),
        }
        if self.action in needs and needs[self.action][1] is None:
            raise ValueError(f"{self.action} needs `{needs[self.action][0]}`")
        if self.action == Action.REQUEST_SUPPLEMENT and not self.components:
            raise ValueError("request_supplement needs the missing `components`")
        return self


class SupplementIn(_Request):
    documents: list[DocumentRef] = Field(min_length=1, max_length=100)
    note: str | None = Field(default=None, max_length=2000)


class WithdrawIn(_Request):
    reason: str | None = Field(default=None, max_length=2000)


class ActionOut(BaseModel):
    code: str
    status_code: int
    stage: str
    current_step: StepPublic | None


class RatingIn(_Request):
    satisfaction: Literal["satisfied", "neutral", "dissatisfied"]
    comment: str | None = Field(default=None, max_length=2000)


class RatingPublic(BaseModel):
    code: str
    satisfaction: str
    comment: str | None


class RunningDossier(BaseModel):
    """A dossier as operators list it: where it is and when it is due; no personal data."""

    code: str
    procedure_code: str
    status_code: int
    stage: str
    department: str | None
    step_name: str | None
    step_due_at: LocalDatetime | None
    due_at: LocalDatetime
    overdue: bool
    temporal_url: str = Field(description="The dossier's workflow in the Temporal Web UI")


class DocumentPublic(BaseModel):
    id: uuid.UUID
    kind: str
    name: str
    issued_at: LocalDatetime
    sha256: str | None = Field(
        description="SHA-256 of the PDF, known once it was first downloaded (rendered then)"
    )
    url: str


class ConsultationPublic(BaseModel):
    id: str
    dossier_code: str
    step_key: str
    department: str
    question: str | None
    asked_at: LocalDatetime
    due_at: LocalDatetime
    status: Literal["open", "answered", "unanswered", "cancelled"]
    answered_by: str | None
    opinion: str | None


class ConsultationAnswerIn(_Request):
    opinion: str = Field(min_length=1, max_length=2000, pattern=TEXT)


class AlertPublic(BaseModel):
    dossier_code: str
    kind: Literal["reminder", "overdue", "apology_due", "assigned", "payment_attention"]
    message: str
    at: LocalDatetime


class TaskPublic(BaseModel):
    code: str
    procedure_code: str
    status_code: int
    step: StepPublic
    received_at: LocalDatetime
    due_at: LocalDatetime
    overdue: bool


# ---- payment ------------------------------------------------------------------------------


class PaymentPublic(BaseModel):
    payment_id: str
    amount_vnd: int
    status: str
    pay_url: str | None


class PaymentAttention(BaseModel):
    """Money taken that is owed back, as operators list it: a payment attempt paid with the
    wrong amount or for nothing (VNPAY), or a fee paid for a dossier withdrawn or finished."""

    dossier_code: str
    status: str = Field(description="amount_mismatch or refund_due")
    fee_vnd: int
    paid_vnd: int | None = Field(description="What the gateway took, when it said")
    txn_ref: str | None = Field(description="The gateway attempt's reference (VNPAY's TxnRef)")
    transaction_no: str | None = Field(description="The gateway's own transaction number")
    at: LocalDatetime | None


class GatewayCallback(BaseModel):
    """What the gateway posts, signed, when a payment settles."""

    model_config = ConfigDict(extra="ignore")

    event_id: str = Field(min_length=1, max_length=128)
    payment_id: str = Field(min_length=1, max_length=128)
    merchant_ref: str = Field(min_length=1, max_length=64)
    amount_vnd: int = Field(ge=0)
    status: Literal["paid", "failed"]
    paid_at: datetime

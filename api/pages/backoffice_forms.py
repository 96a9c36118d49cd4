"""The action forms of an official's dossier page: what each offered action needs on the page,
and a posted form read back into the API's own `ActionIn` (so the page takes exactly what the
API takes), with each problem put on the field it concerns, in Vietnamese.

The step's decision to go on (accept, approve, ...) is one form with an optional note; each
decision that turns the dossier down or back (refuse, reject, return) has a form of its own
with its reason required, and refusing or rejecting is confirmed on a page of its own; the
asides that need more (a supplement request's components, the departments to consult, the
assignee, the new appointment) have a form each."""

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import HTTPException
from pydantic import ValidationError
from starlette.datastructures import FormData

from api.pages.texts import text
from api.schemas import ActionIn
from domain.calendar import VN_TZ
from domain.dossier import Action

# The decision buttons, and how each looks (GOV.UK: one green primary per form).
DECISIONS: dict[str, str] = {
    Action.ACCEPT: "primary",
    Action.APPROVE: "primary",
    Action.CONFIRM_PAYMENT: "primary",
    Action.DELIVER: "primary",
    Action.CONFIRM_WITHDRAWAL: "primary",
}
# The decisions that turn the dossier down or back: each has a form of its own whose reason
# is required (never one careless tap beside "Tiếp nhận"); refusing and rejecting end the
# dossier, so the page asks once more before applying them.
REFUSALS = (Action.REFUSE, Action.REJECT, Action.RETURN)
CONFIRMED = (Action.REFUSE, Action.REJECT)

# Each action's reason field on the page (its input id).
NOTE_FIELD: dict[str, str] = {
    Action.REQUEST_SUPPLEMENT: "supplement-note",
    Action.CONSULT: "consult-note",
    Action.EXTEND: "extend-note",
    Action.REFUSE: "refuse-note",
    Action.REJECT: "reject-note",
    Action.RETURN: "return-note",
}
# What a missing or unfitting argument of an action is shown on.
ARGUMENT_FIELD: dict[str, tuple[str, str]] = {
    Action.REQUEST_SUPPLEMENT: ("components", "officials.error.components_required"),
    Action.REASSIGN: ("assignee", "officials.error.assignee_required"),
    Action.EXTEND: ("new-due-at", "officials.error.due_invalid"),
    Action.CONSULT: ("departments", "officials.error.invalid"),
}
# The idempotency key a form carries (as the API's Idempotency-Key header allows).
_REQUEST_KEY = re.compile(r"[\x21-\x7e]{8,128}")
# What <input type="datetime-local"> sends; and what a person types where the browser has no
# picker, as the hint asks (ngày/tháng/năm, giờ:phút).
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"
TYPED_DATETIMES = ("%d/%m/%Y, %H:%M", "%d/%m/%Y %H:%M", "%H:%M %d/%m/%Y", "%Y-%m-%d %H:%M")

Choices = list[tuple[str, str]]


@dataclass
class Refusal:
    """A decision that turns the dossier down or back: its own form, its reason required."""

    action: str
    note_id: str  # the reason's input id
    heading: str
    label: str
    hint: str
    button: str


@dataclass
class ActionForms:
    """The forms of the actions offered now (None or empty: not offered)."""

    step_key: str | None
    request_key: str
    decisions: list[tuple[str, str, str]]  # (action, label, button kind)
    refusals: list[Refusal] = field(default_factory=list)
    supplement: Choices | None = None  # the procedure's components
    consult: Choices | None = None  # the step's consulted departments
    reassign: Choices | None = None  # the officials who may take the step
    extend: str | None = None  # a suggested new appointment (datetime-local)
    extend_open: bool = False  # the appointment is near or passed: the apology is due

    @property
    def any(self) -> bool:
        return bool(
            self.decisions
            or self.refusals
            or self.supplement
            or self.consult
            or self.reassign
            or self.extend
        )


def refusal(action: Action) -> Refusal:
    return Refusal(
        action=action,
        note_id=NOTE_FIELD[action],
        heading=text(f"officials.refusal.{action}.heading"),
        label=text(f"officials.refusal.{action}.label"),
        hint=text(f"officials.refusal.{action}.hint"),
        button=text(f"action.{action}"),
    )


def action_forms(
    offered: list[Action],
    step_key: str | None,
    components: Choices,
    consults: Choices,
    colleagues: Choices,
    suggested_due: datetime | None,
    apology_due: bool = False,
) -> ActionForms:
    """The forms for `offered`, with a fresh idempotency key: a form sent twice (a double tap,
    a retry on a slow line) carries the same key and is applied once."""
    return ActionForms(
        step_key=step_key,
        request_key=uuid.uuid4().hex,
        decisions=[(a, text(f"action.{a}"), DECISIONS[a]) for a in offered if a in DECISIONS],
        refusals=[refusal(a) for a in REFUSALS if a in offered],
        supplement=components if Action.REQUEST_SUPPLEMENT in offered else None,
        consult=consults if Action.CONSULT in offered else None,
        # Handing the step over needs someone to hand it to.
        reassign=colleagues if Action.REASSIGN in offered and colleagues else None,
        extend=suggested_due.astimezone(VN_TZ).strftime(DATETIME_LOCAL)
        if Action.EXTEND in offered and suggested_due
        else None,
        extend_open=apology_due,
    )


@dataclass
class Posted:
    """A posted action form: the API's body if it is one, the problems if not, and what was
    entered (by input id), to show again."""

    action: str
    body: ActionIn | None
    request_key: str | None
    errors: list[dict[str, str]] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    # A refusal's answer on its confirmation page: "yes" to apply it, "no" to go back.
    confirm: str | None = None

    @property
    def to_confirm(self) -> bool:
        """A refusal not yet confirmed: the confirmation page comes first."""
        return self.action in CONFIRMED and self.confirm != "yes"


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) and value != "" else None


def _texts(form: FormData, name: str) -> list[str]:
    return [v for v in form.getlist(name) if isinstance(v, str) and v]


def read_action(form: FormData) -> Posted:
    """The action a form posted, read into `ActionIn`."""
    action = _text(form, "action") or ""
    note = _text(form, "note")
    key = _text(form, "request_key")
    posted = Posted(action, None, key if key and _REQUEST_KEY.fullmatch(key) else None)
    posted.confirm = _text(form, "confirm")
    values: dict[str, Any] = {"action": action, "step_key": _text(form, "step_key"), "note": note}
    for name in ("components", "departments"):
        if found := _texts(form, name):
            values[name] = found
    if assignee := _text(form, "assignee"):
        values["assignee"] = assignee
    new_due = _text(form, "new_due_at")
    entered = {
        note_field(action): note,
        "components": values.get("components"),
        "departments": values.get("departments"),
        "assignee": values.get("assignee"),
        "new-due-at": new_due,
    }
    posted.values = {name: value for name, value in entered.items() if value}
    if action == Action.CONSULT and not values.get("departments"):
        # The API reads none as all: on the page, each department asked is ticked.
        posted.errors.append(_error("departments", "officials.error.departments_required"))
        return posted
    if action in REFUSALS and not (note or "").strip():
        # Checked here, before any confirmation: the applicant (or the previous step) is owed
        # the reason.
        posted.errors.append(_error(note_field(action), f"officials.refusal.{action}.missing"))
        return posted
    if new_due is not None:
        values["new_due_at"] = typed_moment(new_due)
        if values["new_due_at"] is None:
            posted.errors.append(_error("new-due-at", "officials.error.due_format"))
            return posted
    try:
        posted.body = ActionIn.model_validate(values)
    except ValidationError as exc:
        posted.errors = _schema_errors(action, values, exc)
    return posted


def typed_moment(value: str) -> datetime | None:
    """A moment from a datetime-local input, or as a person types it where the browser shows
    a plain text box."""
    for layout in (DATETIME_LOCAL, *TYPED_DATETIMES):
        try:
            return datetime.strptime(value.strip(), layout).replace(tzinfo=VN_TZ)
        except ValueError:
            continue
    return None


def note_field(action: str) -> str:
    return NOTE_FIELD.get(action, "note")


def _error(field_id: str | None, key: str) -> dict[str, str]:
    return {"field": field_id or "", "message": text(key)}


def _schema_errors(
    action: str, values: dict[str, Any], exc: ValidationError
) -> list[dict[str, str]]:
    """What `ActionIn` refused, on the fields of the page."""
    errors = []
    for problem in exc.errors():
        where = problem["loc"][0] if problem["loc"] else None
        if where == "action":
            errors.append(_error(None, "officials.error.unknown_action"))
        elif where == "note":
            errors.append(_error(note_field(action), "officials.error.note_too_long"))
        elif where is None and action in ARGUMENT_FIELD and _lacks_argument(action, values):
            field_id, _ = ARGUMENT_FIELD[action]
            missing = {
                Action.EXTEND: "officials.error.due_required",
                Action.REASSIGN: "officials.error.assignee_required",
                Action.REQUEST_SUPPLEMENT: "officials.error.components_required",
            }
            errors.append(_error(field_id, missing[Action(action)]))
        else:
            errors.append(_error(None, "officials.error.invalid"))
    return errors


def _lacks_argument(action: str, values: dict[str, Any]) -> bool:
    needed = {
        Action.REQUEST_SUPPLEMENT: "components",
        Action.REASSIGN: "assignee",
        Action.EXTEND: "new_due_at",
    }
    name = needed.get(Action(action))
    return name is not None and not values.get(name)


def refusal_errors(action: str, exc: HTTPException) -> list[dict[str, str]] | None:
    """The workflow's 422 (a reason or an argument that does not fit), on its field; None for
    the other refusals, which the page states above everything."""
    if exc.status_code != 422:
        return None
    problems: list[Any] = exc.detail if isinstance(exc.detail, list) else []
    places = {str(p) for problem in problems for p in problem.get("loc", [])}
    if "note" in places:
        return [_error(note_field(action), "officials.error.reason_required")]
    if "assignee" in places:
        return [_error("assignee", "officials.error.assignee_required")]
    if action in ARGUMENT_FIELD:
        field_id, key = ARGUMENT_FIELD[action]
        return [_error(field_id, key)]
    return [_error(None, "officials.error.invalid")]

"""Which actions an official may take on a dossier now: what the back office offers as forms.

The workflow's update validator (workflows/dossier_checks.py) stays the judge of every action;
`offers` only decides which forms to show. Who may act on a step (`actor_refusal`) and which
actions cannot apply to it (`unfit_refusal`) are one rule for both: the validator refuses
with their words. The rest follows the validator's order, so that in the ordinary case the
page never offers what the validator would refuse. What it cannot see (another official's
action being applied this very moment, a withdrawal on its way) the validator still refuses,
and the page says so.
"""

from dataclasses import dataclass
from datetime import datetime

from domain.dossier import (
    ACTIONS_BY_STAGE,
    APPLICANT_ROLE,
    HEAD_ROLE,
    WITHDRAWAL_STEP,
    Action,
    Actor,
    ProcedureSnapshot,
    Stage,
    StatusCode,
    Task,
    pays_through_gateway,
)

# The order the page shows them in: the step's own decision first, the asides after.
DISPLAY_ORDER = (
    Action.ACCEPT,
    Action.APPROVE,
    Action.CONFIRM_PAYMENT,
    Action.DELIVER,
    Action.CONFIRM_WITHDRAWAL,
    Action.REFUSE,
    Action.REJECT,
    Action.RETURN,
    Action.REQUEST_SUPPLEMENT,
    Action.CONSULT,
    Action.REASSIGN,
    Action.EXTEND,
)


@dataclass(frozen=True)
class DossierNow:
    """The dossier as the official's page sees it."""

    channel: str
    stage: str
    status_code: int
    task: Task | None  # the step that holds it, if any
    due_at: datetime  # the appointment with the applicant
    consulting: bool  # other departments' opinions on the current step are awaited


def offers(
    procedure: ProcedureSnapshot, dossier: DossierNow, official: Actor, now: datetime
) -> list[Action]:
    """The actions `official` may take on `dossier` at `now`, in display order."""
    allowed = set(_step_actions(procedure, dossier, official))
    if _may_extend(procedure, dossier, official, now):
        allowed.add(Action.EXTEND)
    return [action for action in DISPLAY_ORDER if action in allowed]


def _step_actions(
    procedure: ProcedureSnapshot, dossier: DossierNow, official: Actor
) -> set[Action]:
    task = dossier.task
    if task is None or task.role == APPLICANT_ROLE:
        # Nothing waits for an official: the applicant supplements or pays, or it is done.
        return set()
    if dossier.status_code == StatusCode.WITHDRAWAL_REQUESTED:
        candidates = {Action.CONFIRM_WITHDRAWAL} if task.step_key == WITHDRAWAL_STEP else set()
    elif dossier.status_code == StatusCode.SUPPLEMENT_REQUESTED:
        return set()
    elif dossier.consulting:
        candidates = {Action.REASSIGN}
    else:
        candidates = set(ACTIONS_BY_STAGE.get(Stage(dossier.stage), frozenset()))
    candidates -= _not_fitting(procedure, dossier, task)
    return {action for action in candidates if _may_act(official, task, action)}


def _not_fitting(procedure: ProcedureSnapshot, dossier: DossierNow, task: Task) -> set[Action]:
    keys = [step.key for step in procedure.steps]
    # The desk's own steps (intake, payment, delivery) are outside the review steps.
    index = keys.index(task.step_key) if task.step_key in keys else None
    return {
        action
        for action in Action
        if unfit_refusal(procedure, "", dossier.channel, index, task, action) is not None
    }


def unfit_refusal(
    procedure: ProcedureSnapshot,
    code: str,
    channel: str,
    step_index: int | None,
    task: Task,
    action: Action,
) -> str | None:
    """Why `action` cannot apply to the step `task` of dossier `code` (review step `step_index`
    of `procedure`, None for the desk's own steps), whoever sends it; None when it can."""
    if action == Action.RETURN and step_index == 0:
        return f"step {task.step_key} is the first review step: there is none to return to"
    if action == Action.CONFIRM_PAYMENT and pays_through_gateway(procedure.level, channel):
        return f"dossier {code} is paid online through the payment gateway"
    if action == Action.REASSIGN and task.role == APPLICANT_ROLE:
        return f"step {task.step_key} is the applicant's: it has no official to change"
    if action == Action.CONSULT and (
        step_index is None or not procedure.steps[step_index].consults
    ):
        return f"step {task.step_key} consults no other department"
    return None


def _may_act(official: Actor, task: Task, action: Action) -> bool:
    return actor_refusal(official, task, action) is None


def actor_refusal(actor: Actor, task: Task, action: Action) -> str | None:
    """Why `actor` may not take `action` on the step `task`; None when they may. The step's
    department and role act (its assignee, once it has one); the department's head may also
    hand the step to another official."""
    if action == Action.REASSIGN and (actor.department, actor.role) == (
        task.department,
        HEAD_ROLE,
    ):
        return None
    if (actor.department, actor.role) != (task.department, task.role):
        return f"step {task.step_key} belongs to department {task.department}, role {task.role}"
    if task.assignee is not None and actor.username != task.assignee:
        return f"step {task.step_key} is assigned to {task.assignee}"
    return None


def _may_extend(
    procedure: ProcedureSnapshot, dossier: DossierNow, official: Actor, now: datetime
) -> bool:
    """The desk's apology with a new appointment: while the dossier is being processed, its
    clock running, before the appointment passes."""
    return (
        (official.department, official.role) == (procedure.desk_department, procedure.desk_role)
        and dossier.stage != Stage.DONE
        and dossier.status_code < StatusCode.PROCESSED
        and dossier.status_code
        not in (StatusCode.WITHDRAWAL_REQUESTED, StatusCode.SUPPLEMENT_REQUESTED)
        and now < dossier.due_at
    )

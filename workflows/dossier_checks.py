"""What officials and the applicant may ask of a dossier, checked by the updates' validators
before anything is written, and again by their handlers (another update may have been
accepted in between): a wrong or stale action is refused with an error type the API maps to
403, 409 or 422."""

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.action_offers import actor_refusal, unfit_refusal
    from domain.dossier import (
        ACTIONS_BY_STAGE,
        ACTIONS_NEEDING_REASON,
        Action,
        Stage,
        StatusCode,
        Task,
    )
    from workflows.messages import (
        ACTION_NOT_ALLOWED,
        INVALID_REQUEST,
        NOT_YOUR_STEP,
        REASON_REQUIRED,
        ActionRequest,
        SupplementSubmission,
    )

from workflows.dossier_state import DossierBase, local_time

# How far one apology may move an appointment (the pinned calendar covers three years).
MAX_EXTENSION = timedelta(days=365)


def refuse(message: str, error_type: str = ACTION_NOT_ALLOWED) -> ApplicationError:
    return ApplicationError(message, type=error_type, non_retryable=True)


class ActionChecks(DossierBase):
    """The validators' rules (pure reads of the state: no command, no wait)."""

    def _check_action(self, request: ActionRequest) -> None:
        try:
            action = Action(request.action)
        except ValueError:
            raise refuse(f"unknown action {request.action!r}") from None
        if action == Action.EXTEND:
            self._check_extension(request)
        else:
            self._check_step_action(action, request)
        if action in ACTIONS_NEEDING_REASON and not (request.note and request.note.strip()):
            raise refuse(f"{action} needs a reason in `note`", REASON_REQUIRED)

    def _check_step_action(self, action: Action, request: ActionRequest) -> None:
        task = self._task
        code = self._input.code
        if self._pending is not None and task is not None:
            raise refuse(
                f"another action on step {task.step_key} of dossier {code} is being applied: "
                "look at the dossier again"
            )
        if self._pending is not None or task is None:
            raise refuse(f"dossier {code} is not waiting for an action (stage {self._stage})")
        if self._withdrawal is not None and not self._stopping:
            raise refuse(
                f"the applicant's withdrawal of dossier {code} is being taken up: look at the "
                "dossier again in a moment"
            )
        if self._stopping:
            if action != Action.CONFIRM_WITHDRAWAL:
                raise refuse(
                    f"{action} does not fit dossier {code}: the applicant asked to withdraw "
                    "it; only confirm_withdrawal is accepted"
                )
        elif self._status == StatusCode.SUPPLEMENT_REQUESTED:
            raise refuse(f"dossier {code} is waiting for the applicant's supplement")
        elif self._consulting and action != Action.REASSIGN:
            raise refuse(
                f"step {task.step_key} is waiting for the opinions of {', '.join(self._consulting)}"
            )
        elif action == Action.CONFIRM_WITHDRAWAL:
            raise refuse(
                f"{action} does not fit dossier {code}: the applicant has not asked to withdraw it"
            )
        elif action not in ACTIONS_BY_STAGE.get(self._stage, frozenset()):
            raise refuse(
                f"{action} does not fit dossier {code}: it is at step {task.step_key} "
                f"({self._stage})"
            )
        if request.step_key is not None and request.step_key != task.step_key:
            raise refuse(
                f"stale action: dossier {code} has moved from step {request.step_key} to "
                f"{task.step_key}"
            )
        self._check_fits(action, task)
        self._check_actor(request, task)
        self._check_arguments(action, request, task)

    def _check_actor(self, request: ActionRequest, task: Task) -> None:
        problem = actor_refusal(request.actor, task, Action(request.action))
        if problem is not None:
            raise refuse(problem, NOT_YOUR_STEP)

    def _check_fits(self, action: Action, task: Task) -> None:
        """Actions that cannot apply to this step, whoever sends them (409)."""
        i = self._input
        problem = unfit_refusal(i.procedure, i.code, i.channel, self._step_index, task, action)
        if problem is not None:
            raise refuse(problem)

    def _consultable(self) -> set[str]:
        return {c.department for c in self._input.procedure.steps[self._step_index].consults}

    def _check_arguments(self, action: Action, request: ActionRequest, task: Task) -> None:
        """What the action names must fit the step (422)."""
        if action == Action.REQUEST_SUPPLEMENT and not request.components:
            raise refuse("request_supplement needs the missing `components`", INVALID_REQUEST)
        if action == Action.REASSIGN:
            assignee = request.assignee
            if assignee is None:
                raise refuse("reassign needs the official who takes the step over", INVALID_REQUEST)
            if (assignee.department, assignee.role) != (task.department, task.role):
                raise refuse(
                    f"{assignee.username} cannot take step {task.step_key}: it needs department "
                    f"{task.department}, role {task.role}",
                    INVALID_REQUEST,
                )
        if action == Action.CONSULT:
            offered = self._consultable()
            unknown = sorted(set(request.departments) - offered)
            if unknown:
                raise refuse(
                    f"step {task.step_key} may consult {', '.join(sorted(offered))}, "
                    f"not {', '.join(unknown)}",
                    INVALID_REQUEST,
                )

    def _check_extension(self, request: ActionRequest) -> None:
        """The apology comes from the desk, with a later appointment, before the old one
        passes, while the dossier is still being processed."""
        procedure, code = self._input.procedure, self._input.code
        actor = request.actor
        if (actor.department, actor.role) != (procedure.desk_department, procedure.desk_role):
            raise refuse(
                f"the apology and new appointment of dossier {code} are the one-stop desk's "
                f"({procedure.desk_department}, {procedure.desk_role})",
                NOT_YOUR_STEP,
            )
        if self._stage == Stage.DONE or self._status >= StatusCode.PROCESSED or self._withdrawal:
            raise refuse(f"dossier {code} is no longer being processed: nothing to extend")
        if self._status == StatusCode.SUPPLEMENT_REQUESTED:
            raise refuse(
                f"dossier {code} is with the applicant for a supplement: its clock is stopped, "
                "and its appointment moves when it resumes"
            )
        now = workflow.now()
        if now >= self._due_at:
            raise refuse(
                f"the appointment of dossier {code} passed at {local_time(self._due_at)}: the "
                "apology had to come before it"
            )
        new_due_at = request.new_due_at
        if new_due_at is None or new_due_at <= self._due_at:
            raise refuse(
                f"extend needs `new_due_at` later than the current appointment "
                f"({local_time(self._due_at)})",
                INVALID_REQUEST,
            )
        if new_due_at > self._due_at + MAX_EXTENSION:
            raise refuse(
                f"an apology moves the appointment by {MAX_EXTENSION.days} days at most",
                INVALID_REQUEST,
            )
        if not self._calendar.is_office_time(new_due_at):
            raise refuse(
                f"the new appointment {local_time(new_due_at)} is outside office hours or on a "
                "day off",
                INVALID_REQUEST,
            )

    def _check_supplement(self, submission: SupplementSubmission) -> None:
        code = self._input.code
        if not self._awaiting_supplement or self._supplied is not None:
            raise refuse(f"dossier {code} is not waiting for a supplement")
        if self._withdrawal is not None:
            raise refuse(f"dossier {code} is being withdrawn")
        missing = sorted(set(self._missing) - {c.component_code for c in submission.components})
        if missing:
            raise refuse(
                f"the supplement lacks the requested {', '.join(missing)}", INVALID_REQUEST
            )
        if not submission.components:
            raise refuse("a supplement needs at least one document", INVALID_REQUEST)

    def _check_withdrawal(self) -> None:
        if self._withdrawal is not None:
            problem = "its withdrawal was already asked for"
        elif self._status >= StatusCode.PROCESSED or self._stage == Stage.DONE:
            problem = "it is already processed"
        else:
            return
        raise refuse(f"dossier {self._input.code} cannot be withdrawn: {problem}")

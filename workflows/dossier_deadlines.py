"""A step's deadlines while it waits: at three quarters of its time the assignee is reminded,
at its due time it is marked late and its department's head is told, and when the steps left
can no longer be done by the appointment the desk is told to apologise (form 04)."""

from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.dossier_activities import OfficialAlert
    from domain.dossier import HEAD_ROLE, SYSTEM_ACTOR, SlipAction, Stage, Task

from workflows.dossier_state import DossierBase, local_time

# Behaviour added while legacy dossiers were running (see workflows/run_version.py): their
# histories from before the patch replay without it.
STEP_REMINDERS = "step-reminders"


class Deadlines(DossierBase):
    """The waits of a step, with its alerts on the way."""

    async def _wait_with_alerts(self, task: Task, done: Callable[[], bool]) -> None:
        """Wait until `done()`, alerting at the task's deadlines as they pass. When the
        appointment moves meanwhile (the desk's apology), the deadlines are counted again."""
        while True:
            due_at = self._due_at

            def woken(due_at: datetime = due_at) -> bool:
                return done() or self._due_at != due_at

            for moment, alert in self._deadlines(task):
                if await self._wait_until(woken, moment):
                    break
                await self._alert(task, alert)
            await workflow.wait_condition(woken)
            if done():
                return

    def _deadlines(self, task: Task) -> list[tuple[datetime, str]]:
        """The alerts still to come while `task` waits, in the order they fall due."""
        deadlines = []
        if task.due_at is not None and not task.overdue:
            deadlines.append((task.due_at, "overdue"))
        if self._version.patched(STEP_REMINDERS):
            if task.remind_at is not None and not task.reminded:
                deadlines.append((task.remind_at, "reminder"))
            latest_start = self._latest_start()
            if latest_start is not None and not self._apology_alerted:
                deadlines.append((latest_start, "apology_due"))
        return sorted(deadlines)

    def _latest_start(self) -> datetime | None:
        """While the dossier is processed, the last moment the current step can end and the
        steps after it still fit before the appointment."""
        steps = self._input.procedure.steps
        if self._stopping:
            return None
        if self._stage == Stage.INTAKE:
            after = steps
        elif self._stage == Stage.REVIEW:
            after = steps[self._step_index + 1 :]
        else:
            return None
        left = timedelta(hours=sum(step.hours for step in after))
        return self._calendar.subtract_working_time(self._due_at, left)

    async def _alert(self, task: Task, kind: str) -> None:
        if kind == "reminder":
            task.reminded = True
            self._note(SlipAction.STEP_REMINDED, actor=SYSTEM_ACTOR)
            await self._record(alerts=[self._official_alert(task, "reminder", task.role)])
        elif kind == "overdue":
            task.overdue = True
            self._note(SlipAction.STEP_OVERDUE, actor=SYSTEM_ACTOR)
            await self._record(alerts=[self._official_alert(task, "overdue", HEAD_ROLE)])
        else:
            self._apology_alerted = True
            procedure = self._input.procedure
            message = (
                f"không kịp hẹn trả {local_time(self._due_at)}: gửi phiếu xin lỗi và hẹn lại "
                "(mẫu 04) trước thời hạn"
            )
            await self._record(
                alerts=[
                    OfficialAlert(
                        "apology_due", procedure.desk_department, procedure.desk_role, None, message
                    )
                ]
            )

    @staticmethod
    async def _wait_until(condition: Callable[[], bool], until: datetime) -> bool:
        """Wait until `condition()` (True) or until `until` (False)."""
        try:
            await workflow.wait_condition(
                condition, timeout=max(until - workflow.now(), timedelta(0))
            )
        except TimeoutError:
            return False
        return True

    def _official_alert(self, task: Task, kind: str, role: str) -> OfficialAlert:
        """A reminder goes to the step's assignee (or its department and role); a late step
        goes to its department's head."""
        due = self._due_text(task)
        if kind == "reminder":
            message = f"{task.step_name}: đã dùng 3/4 thời gian, hạn {due}"
        else:
            message = f"{task.step_name} ({task.role}) quá hạn từ {due}"
        assignee = task.assignee if kind == "reminder" else None
        return OfficialAlert(kind, task.department, role, assignee, message)

    @staticmethod
    def _due_text(task: Task) -> str:
        return local_time(task.due_at) if task.due_at else "—"

"""How urgent a step is, for an official's inbox: on time, due soon, or overdue.

"Due soon" starts where the workflow reminds the step's holder: once REMINDER_SHARE (three
quarters) of the step's allotted working time is used, i.e. when a quarter or less is left. The
badge and the reminder then agree, and a 4-hour step turns "due soon" one working hour before
its end, a 64-hour one two working days before.
"""

from datetime import date, datetime
from enum import StrEnum

from domain.calendar import VN_TZ, WorkingCalendar
from domain.dossier import REMINDER_SHARE


class Urgency(StrEnum):
    ON_TIME = "on_time"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"


def urgency(
    calendar: WorkingCalendar, started_at: datetime, due_at: datetime | None, now: datetime
) -> Urgency:
    """The step's urgency at `now` (a step with no due time is never late)."""
    if due_at is None:
        return Urgency.ON_TIME
    if now >= due_at:
        return Urgency.OVERDUE
    allotted = calendar.working_time_between(started_at, due_at)
    left = calendar.working_time_between(now, due_at)
    if left <= allotted * (1 - REMINDER_SHARE):
        return Urgency.DUE_SOON
    return Urgency.ON_TIME


def due_on(due_at: datetime | None, day: date) -> bool:
    """Whether the step falls due on `day` (Vietnam's calendar day)."""
    return due_at is not None and due_at.astimezone(VN_TZ).date() == day

"""The times the applicant reads: a step's allotted time (the same words on the procedure's
page and the tracking page), and the date the tracking page puts first — the appointment, or
the day the result was returned and whether that was in time."""

from dataclasses import dataclass
from datetime import date, datetime

from api.pages.render import moment, working_days
from api.pages.texts import text
from api.schemas import DossierPublic
from domain.calendar import HOURS_PER_WORKING_DAY, VN_TZ
from domain.dossier import StatusCode


def working_time(hours: float) -> str:
    """A step's allotted time as people count it, the same on the procedure's page and the
    tracking page: in working days from a day on, in working hours below."""
    if hours >= HOURS_PER_WORKING_DAY:
        return working_days(hours / HOURS_PER_WORKING_DAY)
    return text("tracking.hours", n=f"{hours:g}".replace(".", ","))


@dataclass(frozen=True)
class Appointment:
    """The date the page puts first: when the result is due, or when it was returned."""

    label: str
    value: str
    note: str | None = None


def appointment(status: DossierPublic) -> Appointment | None:
    """The appointment while the dossier runs (to be set again after a supplement); the day the
    result was returned, early, on time or late; nothing for a dossier refused or withdrawn."""
    if status.status_code in (StatusCode.REFUSED, StatusCode.STOPPED):
        return None
    if status.status_code == StatusCode.RESULT_RETURNED and status.finished_at is not None:
        when = text("timeliness." + returned_timeliness(status))
        value = text("tracking.returned.value", at=moment(status.finished_at), timeliness=when)
        return Appointment(text("tracking.returned.label"), value)
    note = None
    if status.status_code == StatusCode.SUPPLEMENT_REQUESTED:
        note = text("tracking.appointment.recomputed")
    return Appointment(text("tracking.summary.appointment"), moment(status.due_at), note)


def returned_timeliness(status: DossierPublic) -> str:
    """As the workflow judges a step against its due time (early: before the due day), with
    Decision 766's lateness of the dossier (a second supplement request makes it late)."""
    assert status.finished_at is not None
    if status.late or status.finished_at > status.due_at:
        return "late"
    if _day(status.finished_at) < _day(status.due_at):
        return "early"
    return "on_time"


def _day(value: datetime) -> date:
    return value.astimezone(VN_TZ).date()

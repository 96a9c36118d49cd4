"""Which actions the back office offers an official (the workflow's validator stays the judge:
what is offered must be what it accepts), and how urgent an inbox's step is."""

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from domain.action_offers import DossierNow, offers
from domain.calendar import VN_TZ, WorkingCalendar
from domain.catalog import load_catalog
from domain.dossier import Action, Actor, Stage, StatusCode, Task
from domain.urgency import Urgency, urgency

CATALOG = load_catalog(Path(__file__).parent.parent / "catalog.yaml")

HOUSEHOLD = CATALOG.snapshot("1.001612")  # paid through the gateway
BUILDING = CATALOG.snapshot("1.009994")  # paid at the desk
LAND = CATALOG.snapshot("1.012778")  # its first step consults two departments
NOW = datetime(2026, 3, 10, 9, 0, tzinfo=VN_TZ)


def _now(stage: Stage, task: Task | None, status: int = 4, **kw: Any) -> DossierNow:
    values: dict[str, Any] = {
        "channel": "online",
        "stage": stage,
        "status_code": status,
        "task": task,
        "due_at": NOW + timedelta(days=3),
        "consulting": False,
    }
    return DossierNow(**{**values, **kw})


def _task(key: str, department: str, role: str, assignee: str | None = None) -> Task:
    return Task(key, key, department, role, NOW, NOW + timedelta(hours=4), assignee=assignee)


DESK_ACTOR = Actor("bpmc.desk_officer", "BPMC", "desk_officer")
INTAKE = _task("intake", "BPMC", "desk_officer")


def test_the_desk_is_offered_intake_and_the_apology() -> None:
    offered = offers(HOUSEHOLD, _now(Stage.INTAKE, INTAKE, 1), DESK_ACTOR, NOW)
    assert offered == [
        Action.ACCEPT,
        Action.REFUSE,
        Action.REQUEST_SUPPLEMENT,
        Action.REASSIGN,
        Action.EXTEND,
    ]
    # Past the appointment, the apology is too late; another department gets nothing.
    late = _now(Stage.INTAKE, INTAKE, 1, due_at=NOW - timedelta(minutes=1))
    assert Action.EXTEND not in offers(HOUSEHOLD, late, DESK_ACTOR, NOW)
    assert offers(HOUSEHOLD, _now(Stage.INTAKE, INTAKE, 1), Actor("k", "KT", "head"), NOW) == []


def test_review_steps_offer_what_the_validator_accepts() -> None:
    first = _task("tham_dinh", "KT", "specialist")
    specialist = Actor("kt.specialist", "KT", "specialist")
    assert offers(HOUSEHOLD, _now(Stage.REVIEW, first), specialist, NOW) == [
        Action.APPROVE,
        Action.REJECT,
        Action.REQUEST_SUPPLEMENT,
        Action.REASSIGN,
    ]  # no return from the first step, no consultation where the step has none
    second = _task("truong_phong", "KT", "head")
    head = Actor("kt.head", "KT", "head")
    assert Action.RETURN in offers(HOUSEHOLD, _now(Stage.REVIEW, second), head, NOW)
    # The head may hand a specialist's step over, and do nothing else with it.
    assert offers(HOUSEHOLD, _now(Stage.REVIEW, first), head, NOW) == [Action.REASSIGN]
    # A step handed to someone else is theirs.
    taken = _task("tham_dinh", "KT", "specialist", assignee="kt.specialist2")
    assert offers(HOUSEHOLD, _now(Stage.REVIEW, taken), specialist, NOW) == []


def test_consultations_payment_supplements_and_withdrawals() -> None:
    registry = _task("dang_ky", "VPDK", "specialist")
    vpdk = Actor("vpdk.specialist", "VPDK", "specialist")
    assert Action.CONSULT in offers(LAND, _now(Stage.REVIEW, registry), vpdk, NOW)
    waiting = _now(Stage.REVIEW, registry, consulting=True)
    assert offers(LAND, waiting, vpdk, NOW) == [Action.REASSIGN]

    payment = _task("payment", "BPMC", "desk_officer")
    at_desk = _now(Stage.PAYMENT, payment, StatusCode.PAYMENT_REQUESTED)
    assert Action.CONFIRM_PAYMENT in offers(BUILDING, at_desk, DESK_ACTOR, NOW)
    assert Action.CONFIRM_PAYMENT not in offers(HOUSEHOLD, at_desk, DESK_ACTOR, NOW)
    online = _task("payment", "BPMC", "applicant")
    paying = _now(Stage.PAYMENT, online, StatusCode.PAYMENT_REQUESTED)
    assert offers(HOUSEHOLD, paying, DESK_ACTOR, NOW) == [Action.EXTEND]

    supplement = _task("supplement", "BPMC", "applicant")
    waiting = _now(Stage.REVIEW, supplement, StatusCode.SUPPLEMENT_REQUESTED)
    assert offers(HOUSEHOLD, waiting, DESK_ACTOR, NOW) == []

    withdrawal = _task("withdrawal", "BPMC", "desk_officer")
    stopping = _now(Stage.REVIEW, withdrawal, StatusCode.WITHDRAWAL_REQUESTED)
    assert offers(HOUSEHOLD, stopping, DESK_ACTOR, NOW) == [Action.CONFIRM_WITHDRAWAL]


def test_due_soon_starts_where_the_reminder_fires() -> None:
    calendar = WorkingCalendar()
    start = datetime(2026, 3, 10, 8, 0, tzinfo=VN_TZ)  # a Tuesday
    due = calendar.add_working_hours(start, 4)
    assert urgency(calendar, start, due, start + timedelta(hours=2)) == Urgency.ON_TIME
    assert urgency(calendar, start, due, start + timedelta(hours=3)) == Urgency.DUE_SOON
    assert urgency(calendar, start, due, due) == Urgency.OVERDUE
    assert urgency(calendar, start, None, due + timedelta(days=9)) == Urgency.ON_TIME

"""What the tracking page shows, derived from the dossier's status as the API gives it to the
applicant: the timeline of every step it goes through, and the one thing the applicant must
do now. Pure functions of plain values (no I/O), so each rule is tested without a server; the
template only lays out what they return."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from api.pages.render import moment, money
from api.pages.texts import text
from api.pages.tracking_dates import working_time
from api.schemas import DossierPublic, HistoryEntry
from domain.catalog import Procedure
from domain.dossier import (
    APPLICANT_ROLE,
    SUPPLEMENT_STEP,
    WITHDRAWAL_STEP,
    Action,
    DeliveryMethod,
    Outcome,
    SlipAction,
    Stage,
    StatusCode,
)

# The timeline's items besides the procedure's own review steps, by the workflow's step keys.
INTAKE, PAYMENT, DELIVERY = str(Stage.INTAKE), str(Stage.PAYMENT), str(Stage.DELIVERY)

# What ends each kind of item on the control slip.
_CLOSING = {
    INTAKE: frozenset({Action.ACCEPT, Action.REFUSE}),
    PAYMENT: frozenset({SlipAction.PAID, Action.CONFIRM_PAYMENT}),
    DELIVERY: frozenset({Action.DELIVER, SlipAction.RESULT_PUBLISHED}),
    WITHDRAWAL_STEP: frozenset({Action.CONFIRM_WITHDRAWAL}),
}
_REVIEW_CLOSING = frozenset({Action.APPROVE, Action.REJECT})
_NEGATIVE = frozenset({Action.REFUSE, Action.REJECT})
# An online result has no desk step: its issue starts the delivery.
_STARTING = frozenset({SlipAction.STEP_STARTED, SlipAction.RESULT_ISSUED})
_TIMELINESS_KIND = {"early": "green", "on_time": "green", "late": "red"}


@dataclass(frozen=True)
class Payable:
    """The fee as the applicant is asked to pay it (from the payment record, if any)."""

    amount_vnd: int
    status: str
    pay_url: str | None


@dataclass(frozen=True)
class Facts:
    """Everything the page is derived from."""

    status: DossierPublic
    procedure: Procedure  # as pinned by the dossier
    department_names: Mapping[str, str]
    desk_department: str
    delivery_method: str
    payment: Payable | None
    missing_components: list[str]  # names of what a pending supplement request asks for
    has_result: bool
    now: datetime
    refusal_document: str | None = None  # where form 03 downloads from, once issued


@dataclass(frozen=True)
class TimelineItem:
    """One step, as the `timeline` macro shows it."""

    key: str
    title: str
    status: str  # done | current | upcoming | refused | skipped
    status_label: str
    meta: str
    detail: list[str]
    badge: tuple[str, str] | None


@dataclass(frozen=True)
class CallToAction:
    """The one thing the applicant must do now (or why nothing)."""

    kind: str
    title: str
    lines: list[str]
    items: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)  # said below the items
    href: str | None = None
    button: str | None = None
    done: bool = False


@dataclass(frozen=True)
class _Stop:
    key: str
    title: str
    department: str
    closing: frozenset[str]
    hours: float | None = None


def _last(entries: Iterable[HistoryEntry]) -> HistoryEntry | None:
    found = None
    for entry in entries:
        found = entry
    return found


def _stops(facts: Facts) -> list[_Stop]:
    """The items of the timeline, in the order the dossier goes through them."""
    desk, procedure = facts.desk_department, facts.procedure
    stops = [_Stop(INTAKE, text("tracking.stop.intake"), desk, _CLOSING[INTAKE])]
    stops += [
        _Stop(step.key, step.name, step.department, _REVIEW_CLOSING, step.hours)
        for step in procedure.steps
    ]
    if procedure.fee_vnd > 0:
        stops.append(_Stop(PAYMENT, text("tracking.stop.payment"), desk, _CLOSING[PAYMENT]))
    stops.append(_Stop(DELIVERY, text("tracking.stop.delivery"), desk, _CLOSING[DELIVERY]))
    asked = SlipAction.WITHDRAWAL_REQUESTED
    if any(e.action == asked for e in facts.status.history):
        title = text("tracking.stop.withdrawal")
        stops.append(_Stop(WITHDRAWAL_STEP, title, desk, _CLOSING[WITHDRAWAL_STEP]))
    return stops


def _closed(status: DossierPublic, stop: _Stop) -> bool:
    return any(e.step == stop.key and e.action in stop.closing for e in status.history)


def held_step(status: DossierPublic) -> str | None:
    """The step the dossier is at: while the applicant supplements, the step that asked."""
    step = status.current_step
    if status.stage == Stage.DONE:
        return None
    if step is None:
        # Between steps (routed, paid, result being published): where it is heading.
        return {Stage.INTAKE: INTAKE, Stage.PAYMENT: PAYMENT, Stage.DELIVERY: DELIVERY}.get(
            Stage(status.stage)
        )
    if step.key == SUPPLEMENT_STEP:
        asked = _last(e for e in status.history if e.action == Action.REQUEST_SUPPLEMENT)
        return asked.step if asked else None
    return step.key


def timeline(facts: Facts) -> list[TimelineItem]:
    """Every step: done (with its timeliness), current (who holds it, until when), upcoming
    (its allotted time), or refused / skipped once the dossier ended without it."""
    status = facts.status
    stops = _stops(facts)
    here = held_step(status)
    if here is None and status.stage != Stage.DONE:
        # Accepted and on its way to the first review step: the first step not yet closed.
        here = next((s.key for s in stops if not _closed(status, s)), None)
    index = next((i for i, s in enumerate(stops) if s.key == here), len(stops))
    items = []
    for position, stop in enumerate(stops):
        entries = [e for e in status.history if e.step == stop.key]
        closed = _last(e for e in entries if e.action in stop.closing)
        if position < index:
            state = "skipped" if closed is None else "done"
            if closed is not None and closed.action in _NEGATIVE:
                state = "refused"
        else:
            state = "current" if position == index else "upcoming"
        items.append(_item(facts, stop, state, entries, closed))
    return items


def _item(
    facts: Facts,
    stop: _Stop,
    state: str,
    entries: list[HistoryEntry],
    closed: HistoryEntry | None,
) -> TimelineItem:
    builders = {
        "done": _done,
        "refused": _done,
        "current": _current,
        "upcoming": _upcoming,
        "skipped": _skipped,
    }
    detail, badge = builders[state](facts, stop, entries, closed)
    return TimelineItem(
        key=stop.key,
        title=stop.title,
        status=state,
        status_label=text(f"tracking.state.{state}"),
        meta=facts.department_names.get(stop.department, stop.department),
        detail=detail,
        badge=badge,
    )


Built = tuple[list[str], tuple[str, str] | None]


def _done(
    facts: Facts, stop: _Stop, entries: list[HistoryEntry], closed: HistoryEntry | None
) -> Built:
    assert closed is not None
    started = _last(e for e in entries if e.action in _STARTING and e.at <= closed.at)
    detail = [text("tracking.item.started", at=moment(started.at))] if started else []
    detail.append(text("tracking.item.finished", at=moment(closed.at)))
    if closed.action in _NEGATIVE:
        kind = "refused" if closed.action == Action.REFUSE else "rejected"
        return detail, (text(f"tracking.badge.{kind}"), "red")
    if closed.timeliness in _TIMELINESS_KIND:
        label = text(f"timeliness.{closed.timeliness}")
        return detail, (label, _TIMELINESS_KIND[closed.timeliness])
    return detail, None


def _current(
    facts: Facts, stop: _Stop, entries: list[HistoryEntry], closed: HistoryEntry | None
) -> Built:
    status = facts.status
    task = status.current_step
    if task is None:
        return _upcoming(facts, stop, entries, closed)[0], (text("tracking.badge.running"), "blue")
    if task.key == SUPPLEMENT_STEP:
        # The step waits for the applicant; its clock stands still meanwhile.
        detail = [text("tracking.item.clock_stopped", at=moment(task.started_at))]
        return detail, (text("tracking.badge.yours"), "yellow")
    detail = [text("tracking.item.started", at=moment(task.started_at))]
    if task.due_at is not None:
        detail.append(text("tracking.item.due", at=moment(task.due_at)))
    detail.append(text("tracking.item.holder", who=holder(task.role, task.assignee)))
    if status.supplement_requests and stop.key == INTAKE:
        detail.append(text("tracking.item.supplemented", count=status.supplement_requests))
    if task.role == APPLICANT_ROLE:
        return detail, (text("tracking.badge.yours"), "yellow")
    if task.due_at is not None and facts.now > task.due_at:
        return detail, (text("timeliness.late"), "red")
    return detail, (text("tracking.badge.running"), "blue")


def _upcoming(
    facts: Facts, stop: _Stop, entries: list[HistoryEntry], closed: HistoryEntry | None
) -> Built:
    if stop.hours is not None:
        return [text("tracking.item.allotted", time=working_time(stop.hours))], None
    if stop.key == PAYMENT:
        return [text("tracking.item.fee", amount=money(facts.procedure.fee_vnd))], None
    if stop.key == DELIVERY:
        return [text("tracking.item.appointment", at=moment(facts.status.due_at))], None
    return [], None


def _skipped(
    facts: Facts, stop: _Stop, entries: list[HistoryEntry], closed: HistoryEntry | None
) -> Built:
    return [], (text("tracking.badge.skipped"), "grey")


def holder(role: str, assignee: str | None) -> str:
    """Who holds a step, as the applicant may know it: the role, and the official it was
    handed to, if any."""
    label = text(f"tracking.role.{role}")
    if label.startswith("["):  # a role the texts do not name
        label = role
    if assignee and role != APPLICANT_ROLE:
        return text("tracking.role.assigned", role=label, username=assignee)
    return label


def reason(status: DossierPublic, actions: Iterable[str]) -> str | None:
    """The note of the last of `actions` on the control slip (the reason told the applicant)."""
    wanted = set(actions)
    entry = _last(e for e in status.history if e.action in wanted)
    return entry.note if entry else None


def call_to_action(facts: Facts, code: str) -> CallToAction:
    """The one thing the applicant must do now: supplement, pay, collect the result — or
    nothing, and why."""
    status = facts.status
    by_status = {
        StatusCode.SUPPLEMENT_REQUESTED: _supplement_cta,
        StatusCode.PAYMENT_REQUESTED: _payment_cta,
        StatusCode.PROCESSED: _result_cta,
        StatusCode.RESULT_RETURNED: _result_cta,
        StatusCode.REFUSED: _refused_cta,
    }
    build = by_status.get(StatusCode(status.status_code))
    if build is not None:
        return build(facts, code)
    if status.status_code == StatusCode.WITHDRAWAL_REQUESTED:
        return _plain("withdrawing")
    if status.status_code == StatusCode.STOPPED:
        return _plain("stopped")
    return _plain("nothing")


def _plain(kind: str, done: bool = False) -> CallToAction:
    return CallToAction(
        kind, text(f"tracking.cta.{kind}.title"), [text(f"tracking.cta.{kind}.lead")], done=done
    )


def _with_reason(lines: list[str], why: str | None) -> list[str]:
    return [*lines, text("tracking.cta.reason", reason=why)] if why else lines


def _supplement_cta(facts: Facts, code: str) -> CallToAction:
    why = reason(facts.status, [Action.REQUEST_SUPPLEMENT])
    return CallToAction(
        "supplement",
        text("tracking.cta.supplement.title"),
        [text("tracking.cta.supplement.lead")],
        items=facts.missing_components,
        after=_with_reason([], why),
        href=f"/ho-so/{code}/bo-sung",
        button=text("tracking.cta.supplement.button"),
    )


def _payment_cta(facts: Facts, code: str) -> CallToAction:
    payment = facts.payment
    amount = money(payment.amount_vnd if payment else facts.procedure.fee_vnd)
    if payment is not None and payment.status == "paid":
        return _plain("paid")
    # Only a web address is a link (never a `javascript:` one, whatever the gateway said).
    online = payment is not None and (payment.pay_url or "").startswith(("https://", "http://"))
    if payment is not None and online and payment.status == "pending":
        return CallToAction(
            "pay",
            text("tracking.cta.pay.title"),
            [text("tracking.cta.pay.lead", amount=amount), text("tracking.cta.pay.hint")],
            href=payment.pay_url,
            button=text("tracking.cta.pay.button"),
        )
    desk = facts.department_names.get(facts.desk_department, facts.desk_department)
    lead = text("tracking.cta.pay_desk.lead", desk=desk, amount=amount)
    return CallToAction("pay_desk", text("tracking.cta.pay_desk.title"), [lead])


def _result_cta(facts: Facts, code: str) -> CallToAction:
    status = facts.status
    download = f"/ho-so/{code}/ket-qua" if facts.has_result else None
    if status.outcome == Outcome.REJECTED:
        why = reason(status, [Action.REJECT])
        return CallToAction(
            "rejected",
            text("tracking.cta.rejected.title"),
            _with_reason([text("tracking.cta.rejected.lead")], why),
            href=download,
            button=text("tracking.cta.rejected.button") if download else None,
        )
    returned = status.status_code == StatusCode.RESULT_RETURNED
    if facts.delivery_method == DeliveryMethod.ONLINE:
        if not (returned and download):
            return _plain("publishing")
        return CallToAction(
            "download",
            text("tracking.cta.download.title"),
            [text("tracking.cta.download.lead")],
            href=download,
            button=text("tracking.cta.download.button"),
            done=True,
        )
    if returned:
        return CallToAction(
            "returned",
            text("tracking.cta.returned.title"),
            [text("tracking.cta.returned.lead")] if download else [],
            href=download,
            button=text("tracking.cta.download.button") if download else None,
            done=True,
        )
    if facts.delivery_method == DeliveryMethod.POST:
        return _plain("post")
    desk = facts.department_names.get(facts.desk_department, facts.desk_department)
    lead = text("tracking.cta.collect.lead", desk=desk)
    return CallToAction("collect", text("tracking.cta.collect.title"), [lead])


def _refused_cta(facts: Facts, code: str) -> CallToAction:
    why = reason(facts.status, [Action.REFUSE])
    lines = _with_reason([text("tracking.cta.refused.lead")], why)
    document = facts.refusal_document
    return CallToAction(
        "refused",
        text("tracking.cta.refused.title"),
        lines,
        href=document,
        button=text("tracking.cta.refused.button") if document else None,
    )


# The colour of each national status's tag: waiting for the applicant, finished well, ended.
_STATUS_KIND = {
    StatusCode.REFUSED: "red",
    StatusCode.SUPPLEMENT_REQUESTED: "yellow",
    StatusCode.PAYMENT_REQUESTED: "yellow",
    StatusCode.WITHDRAWAL_REQUESTED: "grey",
    StatusCode.STOPPED: "grey",
    StatusCode.PROCESSED: "green",
    StatusCode.RESULT_RETURNED: "green",
}


def status_tag(status_code: int) -> tuple[str, str]:
    """The status in words (the national list), and its tag's colour."""
    return text(f"status.{status_code}"), _STATUS_KIND.get(StatusCode(status_code), "blue")


def may_withdraw(status_code: int) -> bool:
    """Whether to offer withdrawal: while the dossier is still being processed (the workflow
    has the last word; a late request is refused with its reason)."""
    return status_code in (
        StatusCode.SUBMITTED,
        StatusCode.ACCEPTED,
        StatusCode.IN_PROCESS,
        StatusCode.SUPPLEMENT_REQUESTED,
        StatusCode.PAYMENT_REQUESTED,
    )


def may_rate(status_code: int) -> bool:
    return status_code == StatusCode.RESULT_RETURNED

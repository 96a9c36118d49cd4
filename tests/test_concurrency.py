"""Concurrency, on real servers: two officials acting on one step at once, a withdrawal racing
an approval (and the gateway's payment), several updates accepted in one workflow task, an
action racing a step's timer, and the gateway's callback arriving before the payment stage.

Each scenario checks what the people involved see: one change applied and a clear 403/409 for
the other, a control slip with one decision per step, a dossier that always reaches a final
status, a read model that says what the workflow says; and each dossier's history replays
through today's code afterwards.

Races over HTTP are run many times with small offsets, plus one round in each order for sure.
To put several inputs into one workflow task for certain, the worker is taken away while they
are sent and brought back once they wait at the server (on the dev server within the API's
2 s budget for an action). On the time-skipping server an update must not be in a workflow
task while a timer fires (its test server then refuses the task's completion, "invalid
history builder state for action", and the dossier hangs): the timer races are a second
before, a second after, or in the same workflow task, never across one."""

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.security import gateway_signature
from domain.calendar import VN_TZ, CalendarSpec, WorkingCalendar
from domain.catalog import load_catalog
from domain.dossier import Actor, DossierState, SlipEntry, Task
from motcua.settings import Settings
from store.db import Sessionmaker
from store.models import (
    Document,
    Dossier,
    OfficialAlertRow,
    Payment,
    PaymentEvent,
    SandboxGatewayPayment,
    SlipEntryRow,
)
from tests.client import DESK, ApiClient, moved, username
from tests.conftest import Stack, insert_dossier
from tests.replaying import check_replays, event_kind, histories_of, replay_failures
from worker import build_worker
from workflows.dossier import DossierWorkflow
from workflows.messages import ActionRequest, DossierInput, DossierOutcome, PaymentConfirmation

HKD = "1.001612"  # fee paid online, three steps: KT specialist, KT head, LD leader
BIRTH = "1.001193"  # no fee, result online: TPHT specialist (4 h), LD leader (2 h)
DECISIONS = ("accept", "refuse", "approve", "reject", "return")
WORKING = CalendarSpec.for_period(datetime.now().year).calendar()


# ---- helpers ---------------------------------------------------------------------------------


def _refused(response: httpx.Response, statuses: tuple[int, ...], *words: str) -> str:
    """A clear refusal: one of `statuses`, with a message saying why (naming `words`)."""
    assert response.status_code in statuses, (response.status_code, response.text)
    detail = response.json()["detail"]
    assert isinstance(detail, str) and len(detail) >= 10, detail
    for word in words:
        assert word in detail, (word, detail)
    return detail


async def _later(delay: float, request: Awaitable[httpx.Response]) -> httpx.Response:
    await asyncio.sleep(delay)
    return await request


async def _act(api: ApiClient, code: str, user: str, action: str, **body: Any) -> httpx.Response:
    """An official's click, with an Idempotency-Key of its own (as a screen sends one per
    click: a second click is a second action, not a retry)."""
    headers = {**await api.as_official(user), "Idempotency-Key": uuid.uuid4().hex}
    return await api.http.post(
        f"/api/v1/dossiers/{code}/actions", json={"action": action, **body}, headers=headers
    )


async def _withdraw(api: ApiClient, code: str, key: str) -> httpx.Response:
    return await api.http.post(
        f"/api/v1/dossiers/{code}/withdraw",
        json={"reason": "Không còn nhu cầu"},
        headers={"X-Lookup-Key": key},
    )


async def _supplement(
    api: ApiClient, code: str, key: str, file_id: str, note: str
) -> httpx.Response:
    document = {"component": "HDTN", "file_id": file_id}
    return await api.http.post(
        f"/api/v1/dossiers/{code}/supplement",
        json={"documents": [document], "note": note},
        headers={"X-Lookup-Key": key},
    )


async def _pay(api: ApiClient, code: str, key: str) -> httpx.Response:
    """The applicant pays through the sandbox gateway, which sends its signed callback."""
    r = await api.http.get(f"/api/v1/dossiers/{code}/payment", headers={"X-Lookup-Key": key})
    assert r.status_code == 200, r.text
    paid = await api.http.post(r.json()["pay_url"])
    assert paid.status_code == 200 and paid.json()["callback_status"] == 200, paid.text
    return paid


def _entries(history: list[dict[str, Any]], step: str, *actions: str) -> list[dict[str, Any]]:
    return [e for e in history if e["step"] == step and e["action"] in actions]


def _slip(entries: list[SlipEntry] | list[SlipEntryRow]) -> list[tuple[Any, ...]]:
    return [
        (e.seq, e.step_key, e.department, e.actor, e.action, e.at, e.note, e.timeliness)
        for e in entries
    ]


async def _read_model(sessionmaker: Sessionmaker, code: str) -> tuple[Dossier, list[SlipEntryRow]]:
    async with sessionmaker() as session:
        row = await session.get_one(Dossier, code)
        slip = await session.scalars(
            select(SlipEntryRow).where(SlipEntryRow.dossier_code == code).order_by(SlipEntryRow.seq)
        )
        return row, list(slip)


def _agree(state: DossierState, row: Dossier, slip: list[SlipEntryRow]) -> None:
    """The read model says what the workflow says: status, stage, step, dates and slip."""
    task = state.current_task
    assert (row.status_code, row.stage, row.outcome) == (
        state.status_code,
        state.stage,
        state.outcome,
    )
    assert (row.step_key, row.assignee, row.step_due_at) == (
        (task.step_key, task.assignee, task.due_at) if task else (None, None, None)
    )
    assert (row.due_at, row.finished_at) == (state.due_at, state.finished_at)
    assert _slip(slip) == _slip(state.history)


async def _agrees_now(stack: Stack, code: str) -> DossierState:
    """Once every answer is in (the dossier waits for its next input), the read model agrees
    with the workflow's own state."""
    state = await stack.client.get_workflow_handle(code).query(DossierWorkflow.state)
    _agree(state, *await _read_model(stack.sessionmaker, code))
    return state


async def _finished(stack: Stack, api: ApiClient, code: str, key: str) -> dict[str, Any]:
    """The dossier reached a final status: the workflow's result, its state, the read model
    and what the applicant reads all say the same. Returns the applicant's view."""
    handle: WorkflowHandle[Any, DossierOutcome] = stack.client.get_workflow_handle(
        code, result_type=DossierOutcome
    )
    async with asyncio.timeout(20):
        outcome = await handle.result()
    state = await handle.query(DossierWorkflow.state)
    assert (outcome.status_code, outcome.outcome) == (state.status_code, state.outcome)
    assert state.stage == "done" and state.current_task is None and state.finished_at
    _agree(state, *await _read_model(stack.sessionmaker, code))
    public = await api.status(code, key)
    assert public["source"] == "final"
    assert (public["status_code"], public["stage"], public["outcome"]) == (
        state.status_code,
        "done",
        state.outcome,
    )
    assert [(e["step"], e["action"]) for e in public["history"]] == [
        (e.step_key, e.action) for e in state.history
    ]
    return public


async def _replays(client: Client, codes: list[str], name: str) -> None:
    """Every dossier (with its children) replays through today's code; the first is kept as
    `name` when recording histories."""
    first, *others = codes
    await check_replays(client, first, name)
    for code in others:
        assert await replay_failures(await histories_of(client, code)) == {}, code


@dataclass
class _WorkflowTask:
    """One completed workflow task: what came in with it, and the updates it accepted."""

    inputs: list[str] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)


def _workflow_tasks(history: WorkflowHistory) -> list[_WorkflowTask]:
    tasks: list[_WorkflowTask] = []
    inputs: list[str] = []
    for event in history.events:
        kind = event_kind(event)
        if kind == "workflow_task_completed":
            tasks.append(_WorkflowTask(inputs))
            inputs = []
        elif kind == "workflow_execution_update_accepted":
            name = event.workflow_execution_update_accepted_event_attributes.accepted_request
            tasks[-1].accepted.append(name.input.name)
        elif kind in ("timer_fired", "activity_task_completed", "workflow_execution_signaled"):
            inputs.append(kind)
    return tasks


# ---- two officials, one step -----------------------------------------------------------------


async def _accepted(api: ApiClient, procedure: str) -> tuple[str, str]:
    """A dossier accepted by the desk: its code and lookup key."""
    created = await api.submit(procedure)
    code, key = created["code"], created["lookup_key"]
    steps = (await api.procedure(procedure))["steps"]
    moved(await api.act(code, DESK, "accept"), "review", steps[0]["key"])
    return code, key


async def _racing_officials(api: ApiClient, code: str, key: str, offset: float) -> str:
    """The step's official approves while the department's head hands the step to another
    official (`offset` seconds later; negative: earlier); the head clicks approve twice on the
    next step; the two leaders approve the last one at once. Then the applicant pays. Returns
    which of the first two won."""

    # The specialist approves; the head hands the step to kt.specialist2. Both saw tham_dinh.
    approved, reassigned = await asyncio.gather(
        _later(max(-offset, 0), _act(api, code, "kt.specialist", "approve", step_key="tham_dinh")),
        _later(
            max(offset, 0),
            _act(api, code, "kt.head", "reassign", assignee="kt.specialist2", step_key="tham_dinh"),
        ),
    )
    if approved.status_code == 200:
        winner = "approve"
        moved(approved, "review", "truong_phong")
        # In the same workflow task: the step is taken; after: the dossier has moved on.
        _refused(reassigned, (409,), code)
    else:
        winner = "reassign"
        answer = moved(reassigned, "review", "tham_dinh")
        assert answer["current_step"]["assignee"] == "kt.specialist2"
        _refused(approved, (403,), "assigned to kt.specialist2")
        state = await api.status(code, key)
        assert (state["current_step"]["key"], state["current_step"]["assignee"]) == (
            "tham_dinh",
            "kt.specialist2",
        )
        r = await _act(api, code, "kt.specialist2", "approve", step_key="tham_dinh")
        moved(r, "review", "truong_phong")

    # Two clicks of the head's approval, each with its own Idempotency-Key, no step named.
    first, second = await asyncio.gather(
        _act(api, code, "kt.head", "approve"), _act(api, code, "kt.head", "approve")
    )
    assert sorted([first.status_code, second.status_code])[0] == 200, (first.text, second.text)
    won, lost = (first, second) if first.status_code == 200 else (second, first)
    moved(won, "review", "phe_duyet")
    # Refused while the first is being applied (409), or, once the dossier moved on, because
    # the leader's step is not the head's (403): never applied to the leader's step.
    _refused(lost, (403, 409), code if lost.status_code == 409 else "phe_duyet")

    # The two leaders approve at once.
    first, second = await asyncio.gather(
        _act(api, code, "ld.leader", "approve", step_key="phe_duyet"),
        _act(api, code, "ld.leader2", "approve", step_key="phe_duyet"),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409], (first.text, second.text)
    won, lost = (first, second) if first.status_code == 200 else (second, first)
    assert moved(won, "payment")["status_code"] == 6
    _refused(lost, (409,), code)
    state = await api.status(code, key)
    assert (state["status_code"], state["current_step"]["key"]) == (6, "payment")
    await _pay(api, code, key)
    return winner


async def test_two_officials_acting_on_one_step_at_once(api: ApiClient, stack: Stack) -> None:
    """Whatever the order, one change is applied per step and the other is refused with a
    clear 403/409; the slip holds exactly one decision per step; the dossier is paid and done."""
    offsets = [-0.3, -0.01, 0.0, 0.0, 0.01, 0.3]
    # Received one after the other (a worker that has just started is slow to take the first
    # dossiers: the API's 2 s budget for an action must not run out), raced all at once.
    dossiers = [await _accepted(api, HKD) for _ in offsets]
    winners = await asyncio.gather(
        *(
            _racing_officials(api, code, key, offset)
            for (code, key), offset in zip(dossiers, offsets, strict=True)
        )
    )
    races = [(code, key, winner) for (code, key), winner in zip(dossiers, winners, strict=True)]
    for code, key, winner in races:
        public = await _finished(stack, api, code, key)
        assert (public["status_code"], public["outcome"]) == (10, "approved")
        history = public["history"]
        for step in ("tham_dinh", "truong_phong", "phe_duyet"):
            assert len(_entries(history, step, *DECISIONS)) == 1, (code, step, history)
        [decision] = _entries(history, "tham_dinh", *DECISIONS)
        reassigned = _entries(history, "tham_dinh", "reassign")
        if winner == "approve":
            assert (decision["actor"], reassigned) == ("kt.specialist", []), history
        else:
            assert decision["actor"] == "kt.specialist2" and len(reassigned) == 1, history
        assert [e["action"] for e in history].count("paid") == 1
    print("racing officials, winners:", [winner for _, _, winner in races])
    await _replays(stack.client, [code for code, _, _ in races], "racing-approvals")


# ---- a withdrawal racing an approval ---------------------------------------------------------


@dataclass
class _Round:
    procedure: str
    order: str  # "race" (with `delay`), "withdrawal-first" or "approval-first"/"payment-first"
    delay: float = 0.0  # the withdrawal is sent this long after the other (negative: before)
    code: str = ""
    approval: int = 0  # (or the payment's answer)
    withdrawal: int = 0
    final: int = 0
    paid: bool = False  # the gateway's payment is on the slip


async def _withdrawal_round(api: ApiClient, stack: Stack, round: _Round) -> None:
    """The applicant withdraws while the leader approves the last review step: of BIRTH (no
    fee: the approval issues the result, status 9-10) or of HKD (the approval asks for the fee,
    status 6). Then the desk confirms the withdrawal if it was taken."""
    code, key = await _accepted(api, round.procedure)
    round.code = code
    steps = (await api.procedure(round.procedure))["steps"]
    for step, following in zip(steps[:-1], steps[1:], strict=True):
        r = await api.act(code, username(step["department"], step["role"]), "approve")
        moved(r, "review", following["key"])
    last = steps[-1]

    def approve() -> Awaitable[httpx.Response]:
        return _act(
            api, code, username(last["department"], last["role"]), "approve", step_key=last["key"]
        )

    if round.order == "withdrawal-first":
        # Clicked twice: one withdrawal (one update id per dossier), the same answer to both.
        withdrawal, again = await asyncio.gather(
            _withdraw(api, code, key), _withdraw(api, code, key)
        )
        assert (again.status_code, again.json()) == (200, withdrawal.json()), again.text
        approval = await approve()
    elif round.order == "approval-first":
        approval = await approve()
        withdrawal = await _withdraw(api, code, key)
    else:
        approval, withdrawal = await asyncio.gather(
            _later(max(-round.delay, 0), approve()),
            _later(max(round.delay, 0), _withdraw(api, code, key)),
        )
    round.approval, round.withdrawal = approval.status_code, withdrawal.status_code
    # Never both refused; a refusal says why.
    assert 200 in (approval.status_code, withdrawal.status_code), (approval.text, withdrawal.text)
    if approval.status_code != 200:
        _refused(approval, (409,), "withdraw")
    if withdrawal.status_code != 200:
        # Refused by the workflow ("already processed") or, once it completed, by the API.
        detail = _refused(withdrawal, (409,), code)
        assert "processed" in detail or "finished" in detail, detail
        # Only a result already issued stops a withdrawal: a fee still to pay does not.
        assert round.procedure == BIRTH
    # Settled after both answers: the read model says what the workflow says.
    state = await _agrees_now(stack, code)

    if withdrawal.status_code == 200:
        # Held by the desk for its confirmation, wherever the dossier stood (review, or the
        # payment stage the approval had just opened).
        answer = withdrawal.json()
        assert (answer["status_code"], answer["current_step"]["key"]) == (7, "withdrawal")
        assert answer["stage"] in ("review", "payment"), answer
        assert (state.status_code, state.current_task and state.current_task.step_key) == (
            7,
            "withdrawal",
        )
        confirmed = await api.act(code, DESK, "confirm_withdrawal")
        assert moved(confirmed, "done")["status_code"] == 8
    public = await _finished(stack, api, code, key)
    round.final = public["status_code"]
    history = public["history"]
    actions = [e["action"] for e in history]
    # The approval is on the slip exactly when it was answered 200, and once.
    assert len(_entries(history, last["key"], "approve")) == (approval.status_code == 200)
    async with stack.sessionmaker() as session:
        payment = await session.get(Payment, code)
        kinds = list(
            await session.scalars(select(Document.kind).where(Document.dossier_code == code))
        )
    if round.final == 8:
        # Withdrawn: stopped before any result, the fee (if asked) cancelled.
        assert public["outcome"] == "withdrawn"
        assert actions.count("withdrawal_requested") == actions.count("confirm_withdrawal") == 1
        assert "result_issued" not in actions and "result" not in kinds
        assert payment is None or payment.status == "cancelled", payment and payment.status
        assert (payment is not None) == (round.procedure == HKD and approval.status_code == 200), (
            actions
        )
    else:
        # Processed: the withdrawal came too late and changed nothing.
        assert (round.final, public["outcome"]) == (10, "approved")
        assert "withdrawal_requested" not in actions
        assert actions.count("result_issued") == 1 and "result" in kinds


async def _play(rounds: list[_Round], play: Callable[[_Round], Awaitable[None]]) -> None:
    """Play the rounds, four at a time (each is a dossier of its own)."""
    parallel = asyncio.Semaphore(4)

    async def one(round: _Round) -> None:
        async with parallel:
            await play(round)

    await asyncio.gather(*(one(r) for r in rounds))


async def test_a_withdrawal_racing_an_approval(api: ApiClient, stack: Stack) -> None:
    """Either the withdrawal wins (status 7, the desk confirms, status 8; the approval refused
    or applied before it and stopped there) or the approval wins and the withdrawal then
    proceeds (a fee still to pay) or is refused (the result issued): never both half-applied,
    never stuck, the read model agreeing with the workflow at every answer."""
    rounds = [
        _Round(BIRTH, "withdrawal-first"),
        _Round(BIRTH, "approval-first"),
        *(_Round(BIRTH, "race", delay) for delay in (-0.02, 0, 0.02, 0.03, 0.04, 0.06)),
        _Round(HKD, "approval-first"),
        *(_Round(HKD, "race", delay) for delay in (0, 0.03)),
    ]
    await _play(rounds, lambda round: _withdrawal_round(api, stack, round))
    print(
        "withdrawal vs approval:",
        [(r.procedure, r.order, r.delay, r.approval, r.withdrawal, r.final) for r in rounds],
    )
    assert {r.final for r in rounds if r.procedure == BIRTH} == {8, 10}
    assert {r.final for r in rounds if r.procedure == HKD} == {8}
    withdrawn = [r.code for r in rounds if r.final == 8]
    processed = [r.code for r in rounds if r.final == 10]
    await _replays(stack.client, withdrawn, "withdrawal-racing-approval")
    await _replays(stack.client, processed, "approval-racing-withdrawal")


async def _withdrawal_racing_payment(api: ApiClient, stack: Stack, round: _Round) -> None:
    """At the payment stage, the applicant pays through the gateway (whose callback the API
    forwards) while asking to withdraw (`round.delay` seconds after paying; negative: before).
    The money the gateway took is either the fee of a processed dossier or owed back."""
    code, key = await _accepted(api, HKD)
    round.code = code
    for user in ("kt.specialist", "kt.head", "ld.leader"):
        r = await api.act(code, user, "approve")
    assert moved(r, "payment")["status_code"] == 6
    r = await api.http.get(f"/api/v1/dossiers/{code}/payment", headers={"X-Lookup-Key": key})
    pay_url = r.json()["pay_url"]
    if round.order == "withdrawal-first":
        withdrawal = await _withdraw(api, code, key)
        paid = await api.http.post(pay_url)
    elif round.order == "payment-first":
        paid = await api.http.post(pay_url)
        await api.wait_for(code, key, "done")  # (the callback answers before the dossier moves)
        withdrawal = await _withdraw(api, code, key)
    else:
        paid, withdrawal = await asyncio.gather(
            _later(max(-round.delay, 0), api.http.post(pay_url)),
            _later(max(round.delay, 0), _withdraw(api, code, key)),
        )
    round.approval, round.withdrawal = paid.status_code, withdrawal.status_code
    # The gateway's callback is always answered (applied, or kept as money owed back).
    assert paid.status_code == 200 and paid.json()["callback_status"] == 200, paid.text
    if withdrawal.status_code == 200:
        assert withdrawal.json()["status_code"] == 7, withdrawal.text
        await _agrees_now(stack, code)
        moved(await api.act(code, DESK, "confirm_withdrawal"), "done")
    else:
        detail = _refused(withdrawal, (409,), code)
        assert "processed" in detail or "finished" in detail, detail
    public = await _finished(stack, api, code, key)
    round.final = public["status_code"]
    actions = [e["action"] for e in public["history"]]
    async with stack.sessionmaker() as session:
        payment = await session.get_one(Payment, code)
        [booked] = await session.scalars(
            select(SandboxGatewayPayment.status).where(SandboxGatewayPayment.merchant_ref == code)
        )
        paid_online = (await session.get_one(Dossier, code)).paid_online
    assert booked == "paid"  # the gateway took the money
    round.paid = "paid" in actions
    if round.final == 8:
        assert "result_issued" not in actions and actions.count("confirm_withdrawal") == 1
        assert (payment.status, paid_online) == ("refund_due", False), payment.status
        assert payment.pay_url is None  # owed back: no pay link left for the applicant
    else:
        assert (round.final, public["outcome"]) == (10, "approved")
        assert actions.count("paid") == 1 and "withdrawal_requested" not in actions
        assert (payment.status, paid_online) == ("paid", True)


async def test_a_withdrawal_racing_the_payment_callback(api: ApiClient, stack: Stack) -> None:
    """Paid and withdrawn at once: either the payment is applied and the withdrawal refused
    (status 10, the fee paid), or the withdrawal stops the dossier and the fee is owed back
    (status 8, refund due) — never a fee kept for a dossier that was stopped."""
    rounds = [
        _Round(HKD, "withdrawal-first"),
        _Round(HKD, "payment-first"),
        *(_Round(HKD, "race", delay) for delay in (-0.02, 0, 0.02, 0.03, 0.04, 0.06)),
    ]
    await _play(rounds, lambda round: _withdrawal_racing_payment(api, stack, round))
    print(
        "withdrawal vs payment:",
        [(r.order, r.delay, r.withdrawal, r.final, r.paid) for r in rounds],
    )
    assert {r.final for r in rounds} == {8, 10}
    withdrawn = [r.code for r in rounds if r.final == 8]
    processed = [r.code for r in rounds if r.final == 10]
    await _replays(stack.client, withdrawn, "withdrawal-racing-payment")
    await _replays(stack.client, processed, "payment-racing-withdrawal")


# ---- several updates accepted in one workflow task -------------------------------------------


async def _together(stack: Stack, *requests: Awaitable[httpx.Response]) -> list[httpx.Response]:
    """Send the requests at once while the worker is away: the updates they carry wait at the
    server and come to the workflow together, in the first workflow task of the worker that
    comes back 0.7 s later (well within the API's budget for an action, 2 s in the tests)."""

    async def come_back() -> None:
        await asyncio.sleep(0.7)
        stack.start_worker()

    await stack.stop_worker()
    back = asyncio.create_task(come_back())
    try:
        return list(await asyncio.gather(*requests))
    finally:
        await back  # whatever happened, the session's worker is back


@pytest.mark.parametrize("where", ["review", "supplement"])
async def test_several_updates_in_one_workflow_task(
    where: str, api: ApiClient, stack: Stack
) -> None:
    """Review: the desk's apology, the head's hand-over and two approvals arrive together;
    supplement: the applicant's supplement (twice, differently), the withdrawal, an approval
    and the desk's apology. Each answer is a 200 applied exactly once or a clear 403/409
    applied not at all; every update accepted was accepted in the same workflow task; the
    dossier then ends normally, its read model agreeing with the workflow."""
    created = await api.submit(HKD)
    code, key = created["code"], created["lookup_key"]
    moved(await api.act(code, DESK, "accept"), "review", "tham_dinh")
    for user in ("kt.specialist", "kt.specialist2", "kt.head", DESK):
        await api.token(user)  # logged in beforehand: the clicks go out at once
    due = datetime.fromisoformat((await api.status(code, key))["due_at"])
    later = due + timedelta(days=7)
    while not WORKING.is_office_time(later):
        later += timedelta(hours=1)
    extend = _act(api, code, DESK, "extend", note="Chờ xác minh", new_due_at=later.isoformat())

    requests: dict[str, Awaitable[httpx.Response]]
    if where == "review":
        reassign = {"assignee": "kt.specialist2", "step_key": "tham_dinh"}
        requests = {
            "extend": extend,
            "reassign": _act(api, code, "kt.head", "reassign", **reassign),
            "approve2": _act(api, code, "kt.specialist2", "approve", step_key="tham_dinh"),
            "approve": _act(api, code, "kt.specialist", "approve", step_key="tham_dinh"),
        }
    else:
        asked = await api.act(
            code, "kt.specialist", "request_supplement", note="Thiếu hợp đồng", components=["HDTN"]
        )
        moved(asked, "review", "supplement")
        files = [await api.upload(), await api.upload()]
        requests = {
            "supplement": _supplement(api, code, key, files[0], "Đã bổ sung"),
            "supplement2": _later(0.05, _supplement(api, code, key, files[1], "Lần hai")),
            "withdrawal": _later(0.1, _withdraw(api, code, key)),
            "approve": _act(api, code, "kt.specialist", "approve", step_key="tham_dinh"),
            "extend": extend,
        }
    answers = dict(zip(requests, await _together(stack, *requests.values()), strict=True))
    statuses = {name: r.status_code for name, r in answers.items()}
    print(where, statuses)
    for r in answers.values():
        if r.status_code != 200:
            _refused(r, (403, 409), code if r.status_code == 409 else "kt.specialist2")
    accepted = [name for name, status in statuses.items() if status == 200]

    # What the workflow accepted, it accepted in one workflow task.
    history = await stack.client.get_workflow_handle(code).fetch_history()
    batches = [t.accepted for t in _workflow_tasks(history) if t.accepted]
    update = {"supplement": "supplement", "supplement2": "supplement"}
    update |= {"withdrawal": "request_withdrawal"}
    assert sorted(batches[-1]) == sorted(update.get(name, "act") for name in accepted), batches
    if where == "review":
        # The apology fits whatever else happens; one approval, and the hand-over if first.
        assert statuses["extend"] == 200
        assert sorted([statuses["approve"], statuses["approve2"]])[0] == 200
        assert statuses["approve"] != 200 or statuses["reassign"] != 200
        assert len(accepted) >= 2
    else:
        # A dossier waiting for a supplement is not extended nor approved; the withdrawal is
        # always taken; the supplement, if it came first; the second never.
        assert (statuses["extend"], statuses["approve"], statuses["supplement2"]) == (
            409,
            409,
            409,
        )
        assert statuses["withdrawal"] == 200

    state = await _agrees_now(stack, code)
    slip = [(e.step_key, e.action, e.actor) for e in state.history]
    applied = {
        "extend": ("extend", DESK),
        "reassign": ("reassign", "kt.head"),
        "approve": ("approve", "kt.specialist"),
        "approve2": ("approve", "kt.specialist2"),
        "supplement": ("supplemented", "applicant"),
        "supplement2": ("supplemented", "applicant"),
        "withdrawal": ("withdrawal_requested", "applicant"),
    }
    for name in requests:
        if name not in ("supplement", "supplement2"):  # (one slip line: counted below)
            done = [e for e in slip if e[1:] == applied[name]]
            assert len(done) == (statuses[name] == 200), (name, slip)
    if where == "review":
        assert state.due_at == later
        winner = "approve" if statuses["approve"] == 200 else "approve2"
        [decision] = [e for e in slip if e[0] == "tham_dinh" and e[1] in DECISIONS]
        assert decision[2] == applied[winner][1]
        for user in ("kt.head", "ld.leader"):
            moved(
                await api.act(code, user, "approve"), "review" if user == "kt.head" else "payment"
            )
        await _pay(api, code, key)
        public = await _finished(stack, api, code, key)
        assert (public["status_code"], public["outcome"]) == (10, "approved")
        for step in ("tham_dinh", "truong_phong", "phe_duyet"):
            assert len(_entries(public["history"], step, *DECISIONS)) == 1
    else:
        supplied = statuses["supplement"] == 200
        assert [e[1] for e in slip].count("supplemented") == supplied, slip
        assert state.status_code == 7 and state.current_task is not None
        assert state.current_task.step_key == "withdrawal"
        moved(await api.act(code, DESK, "confirm_withdrawal"), "done")
        public = await _finished(stack, api, code, key)
        assert (public["status_code"], public["outcome"]) == (8, "withdrawn")
    await check_replays(stack.client, code, f"updates-in-one-task-{where}")


# ---- the gateway's callback before the payment stage -----------------------------------------

CALLBACK = "/api/v1/payments/callback"


def _callback(settings: Settings, **event: Any) -> tuple[bytes, dict[str, str]]:
    """A callback as the gateway signs it."""
    body = json.dumps(event).encode()
    timestamp = str(int(time.time()))
    secret = settings.payment_callback_secret.get_secret_value()
    headers = {
        "Content-Type": "application/json",
        "X-Gateway-Timestamp": timestamp,
        "X-Gateway-Signature": gateway_signature(secret, timestamp, body),
    }
    return body, headers


async def test_a_payment_callback_before_the_payment_stage(
    api: ApiClient, stack: Stack, settings: Settings
) -> None:
    """A correctly signed callback for a dossier still in review is refused (no payment was
    asked for); a confirmation reaching the workflow in review is ignored; then the applicant
    pays the moment the payment exists, racing the last approval's answer: the dossier is paid
    once and done, with one payment in our book and one in the gateway's."""
    created = await api.submit(HKD)
    code, key = created["code"], created["lookup_key"]
    moved(await api.act(code, DESK, "accept"), "review", "tham_dinh")
    early = {
        "event_id": f"early-{code}",
        "payment_id": "SBX-0123456789ABCDEF",
        "merchant_ref": code,
        "amount_vnd": 100_000,
        "status": "paid",
        "paid_at": datetime.now(UTC).isoformat(),
    }
    body, headers = _callback(settings, **early)
    r = await api.http.post(CALLBACK, content=body, headers=headers)
    _refused(r, (404,), "no such payment")
    # As if the API had let it through: the workflow, in review, ignores it.
    handle = stack.client.get_workflow_handle(code)
    await handle.signal(
        DossierWorkflow.payment_confirmed,
        PaymentConfirmation(early["payment_id"], 100_000, datetime.now(UTC)),
    )
    state = await api.status(code, key)
    assert (state["status_code"], state["current_step"]["key"]) == (4, "tham_dinh")
    assert "paid" not in [e["action"] for e in state["history"]]
    async with stack.sessionmaker() as session:
        assert await session.get(Payment, code) is None
    await _agrees_now(stack, code)

    moved(await api.act(code, "kt.specialist", "approve"), "review", "truong_phong")
    moved(await api.act(code, "kt.head", "approve"), "review", "phe_duyet")

    async def pay_at_once() -> httpx.Response:
        """The applicant's portal, polling for the payment and paying the moment it exists."""
        async with asyncio.timeout(10):
            while True:
                r = await api.http.get(
                    f"/api/v1/dossiers/{code}/payment", headers={"X-Lookup-Key": key}
                )
                if r.status_code == 200:
                    return await api.http.post(r.json()["pay_url"])
                assert r.status_code == 404, r.text
                await asyncio.sleep(0.005)

    approved, paid = await asyncio.gather(api.act(code, "ld.leader", "approve"), pay_at_once())
    assert approved.status_code == 200, approved.text
    assert approved.json()["status_code"] in (6, 9, 10), approved.text
    assert paid.status_code == 200 and paid.json()["callback_status"] == 200, paid.text
    public = await _finished(stack, api, code, key)
    assert (public["status_code"], public["outcome"]) == (10, "approved")
    actions = [e["action"] for e in public["history"]]
    assert actions.count("payment_requested") == actions.count("paid") == 1, actions
    final = await stack.client.get_workflow_handle(code).query(DossierWorkflow.state)
    [paid_note] = [e.note for e in final.history if e.action == "paid"]

    # Afterwards: the early callback is still refused, the real one again is a duplicate.
    body, headers = _callback(settings, **{**early, "paid_at": datetime.now(UTC).isoformat()})
    _refused(await api.http.post(CALLBACK, content=body, headers=headers), (404,), "payment")
    again = await api.http.post(paid.request.url)
    assert again.status_code == 200 and again.json()["callback_status"] == 200
    async with stack.sessionmaker() as session:
        payment = await session.get_one(Payment, code)
        assert (payment.status, payment.via, payment.amount_vnd) == ("paid", "gateway", 100_000)
        assert paid_note == payment.payment_id
        events = await session.scalar(
            select(func.count()).where(PaymentEvent.payment_id == payment.payment_id)
        )
        assert events == 1
        book = list(
            await session.scalars(
                select(SandboxGatewayPayment).where(SandboxGatewayPayment.merchant_ref == code)
            )
        )
        assert [(p.payment_id, p.status) for p in book] == [(payment.payment_id, "paid")]
        assert (await session.get_one(Dossier, code)).paid_online
    await check_replays(stack.client, code, "callback-before-payment")


# ---- an action racing a step's timer (time-skipping server) ----------------------------------


TPHT = Actor("tpht.specialist", "TPHT", "specialist")
LD = Actor("ld.leader", "LD", "leader")
BPMC = Actor(DESK, "BPMC", "desk_officer")


@dataclass
class _Race:
    """An official's decision on `step`, sent at the moment one of its timers fires."""

    step: str
    action: str
    actor: Actor
    alert: str  # "apology_due", "reminder" or "overdue"
    task: Task | None = None  # the step as it stood when the race began
    moment: datetime | None = None  # when the timer fires


@dataclass
class _TimerRun:
    """Dossiers on the time-skipping server, with a worker that can be taken away and brought
    back (it caches no workflow, so a new worker takes any workflow task)."""

    env: WorkflowEnvironment
    sessionmaker: Sessionmaker
    settings: Settings
    task_queue: str = field(default_factory=lambda: f"race-{uuid.uuid4().hex[:8]}")
    worker: Worker | None = None
    running: asyncio.Task[None] | None = None

    def start_worker(self) -> None:
        self.worker = build_worker(
            self.env.client,
            self.sessionmaker,
            self.settings,
            task_queue=self.task_queue,
            max_cached_workflows=0,
        )
        self.running = asyncio.create_task(self.worker.run())

    async def stop_worker(self) -> None:
        assert self.worker is not None and self.running is not None
        await self.worker.shutdown()
        await self.running
        self.worker = self.running = None

    async def sleep_until(self, moment: datetime) -> None:
        now = await self.env.get_current_time()
        await self.env.sleep(max(moment - now, timedelta(0)))

    async def events(self, handle: WorkflowHandle[Any, Any]) -> list[str]:
        return [event_kind(e) for e in (await handle.fetch_history()).events]

    async def quiet(self, handle: WorkflowHandle[Any, Any]) -> int:
        """Wait until every workflow task and activity scheduled has completed; returns how
        many timers have fired."""
        async with asyncio.timeout(10):
            while True:
                kinds = await self.events(handle)
                if kinds.count("workflow_task_scheduled") == kinds.count(
                    "workflow_task_completed"
                ) and kinds.count("activity_task_scheduled") == kinds.count(
                    "activity_task_completed"
                ):
                    return kinds.count("timer_fired")
                await asyncio.sleep(0.01)

    async def race(self, handle: WorkflowHandle[Any, Any], mode: str, race: _Race) -> None:
        """`mode`: the decision a second before the timer, a second after it (the alert
        recorded in between), or in the same workflow task as the timer's firing (the worker
        away while both arrive)."""
        assert race.moment is not None
        request = ActionRequest(race.action, race.actor, step_key=race.step)
        if mode == "before":
            await self.sleep_until(race.moment - timedelta(seconds=1))
        elif mode == "after":
            await self.sleep_until(race.moment + timedelta(seconds=1))
        else:
            await self.sleep_until(race.moment - timedelta(seconds=1))
            fired = await self.quiet(handle)
            await self.stop_worker()
            # No other timer in this last second: time skips to just before the moment, then
            # runs on (locked) until the timer fires, with no worker to take its task.
            await self.sleep_until(race.moment - timedelta(milliseconds=20))
            async with asyncio.timeout(10):
                while True:
                    if (await self.events(handle)).count("timer_fired") > fired:
                        break
                    await asyncio.sleep(0.005)
            update = asyncio.create_task(handle.execute_update(DossierWorkflow.act, request))
            await asyncio.sleep(0.3)  # the update waits at the server, beside the timer
            self.start_worker()
            async with asyncio.timeout(10):
                await update
            return
        async with asyncio.timeout(10):
            await handle.execute_update(DossierWorkflow.act, request)


def _timeliness(at: datetime, due: datetime) -> str:
    """The slip's rule: late after the due time; early before the due day; else on time."""
    if at > due:
        return "late"
    return "early" if at.astimezone(VN_TZ).date() < due.astimezone(VN_TZ).date() else "on_time"


@pytest.mark.parametrize("mode", ["before", "same_task", "after"])
async def test_an_action_racing_a_steps_timer(
    mode: str, time_skipping: WorkflowEnvironment, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    """A birth registration (desk 8 h, civil status 4 h, leader 2 h; the appointment one
    working day after receipt). The desk accepts at the moment it must be told to apologise
    (the steps left no longer fit), the civil-status official approves at the moment of the
    reminder, the leader at the step's due time. Each decision is applied once; each racing
    alert is recorded once or not at all, before the decision, and the decision's timeliness
    agrees with the due time and with the alert (an overdue alert means a late decision)."""
    env = time_skipping
    snapshot = load_catalog(settings.catalog_path).snapshot(BIRTH)
    received_at = await env.get_current_time()
    spec = CalendarSpec.for_period(received_at.year - 1)
    calendar: WorkingCalendar = spec.calendar()
    due_at = calendar.add_working_days(received_at, snapshot.processing_days)
    code = await insert_dossier(sessionmaker, snapshot, received_at, due_at)
    input = DossierInput(
        code, snapshot, "online", "individual", "online", received_at, due_at, spec
    )
    races = [
        _Race("intake", "accept", BPMC, "apology_due"),
        _Race("hotich", "approve", TPHT, "reminder"),
        _Race("phe_duyet", "approve", LD, "overdue"),
    ]
    run = _TimerRun(env, sessionmaker, settings)
    run.start_worker()
    handle = await env.client.start_workflow(
        DossierWorkflow.run, input, id=code, task_queue=run.task_queue
    )
    try:
        for race in races:
            state = await handle.query(DossierWorkflow.state)
            race.task = task = state.current_task
            assert task is not None and task.step_key == race.step
            assert task.due_at is not None and task.remind_at is not None
            if race.alert == "apology_due":  # the desk's 8 hours leave too little for 6 more
                left = timedelta(hours=sum(step.hours for step in snapshot.steps))
                race.moment = calendar.subtract_working_time(state.due_at, left)
            else:
                race.moment = task.remind_at if race.alert == "reminder" else task.due_at
            await run.race(handle, mode, race)
        with env.auto_time_skipping_disabled():  # (waiting for a result skips time)
            async with asyncio.timeout(10):
                outcome = await handle.result()
        state = await handle.query(DossierWorkflow.state)
        history = await handle.fetch_history()
    finally:
        with contextlib.suppress(RPCError):  # (finished already)
            await handle.terminate("test over")
        if run.worker is not None:
            await run.stop_worker()

    assert (outcome.status_code, outcome.outcome) == (10, "approved")
    row, slip = await _read_model(sessionmaker, code)
    _agree(state, row, slip)
    async with sessionmaker() as session:
        alerts = list(
            await session.scalars(
                select(OfficialAlertRow.kind).where(OfficialAlertRow.dossier_code == code)
            )
        )
    entries = state.history
    # The read model's alerts are the slip's (the apology's are the desk's, off the slip).
    assert alerts.count("reminder") == [e.action for e in entries].count("step_reminded")
    assert alerts.count("overdue") == [e.action for e in entries].count("step_overdue")
    # The apology alert, which only the desk's race can bring (the later steps fit).
    recorded = {"apology_due": alerts.count("apology_due")}
    for race in races:
        assert race.task is not None and race.task.due_at is not None and race.moment
        of_step = [e for e in entries if e.step_key == race.step]
        [decision] = [e for e in of_step if e.action in DECISIONS]
        assert decision.actor == race.actor.username
        # Nothing happens to a step once decided.
        assert of_step[-1] is decision, of_step
        assert decision.timeliness == _timeliness(decision.at, race.task.due_at), decision
        slip_alert = {"reminder": "step_reminded", "overdue": "step_overdue"}.get(race.alert)
        if slip_alert is not None:
            raced = [e for e in of_step if e.action == slip_alert]
            recorded[race.alert] = len(raced)
            for alert in raced:
                assert race.moment <= alert.at <= decision.at, (alert, decision)
        if recorded[race.alert]:
            # Alerted: the decision came at or after the alert's moment, and an overdue step
            # is a late one on the slip.
            assert decision.at >= race.moment, (decision, race.moment)
            assert race.alert != "overdue" or decision.timeliness == "late", decision
        if mode == "before":
            assert decision.at < race.moment and recorded[race.alert] == 0, (decision, recorded)
        elif mode == "after":
            assert decision.at > race.moment and recorded[race.alert] == 1, (decision, recorded)
        else:
            # The timer and the decision came in one workflow task: either may be taken first,
            # once.
            assert decision.at >= race.moment and recorded[race.alert] <= 1, recorded
    if mode == "same_task":
        # Each decision was accepted in the very workflow task its timer's firing came in.
        batches = [t for t in _workflow_tasks(history) if t.accepted]
        assert len(batches) == 3 and all("timer_fired" in t.inputs for t in batches), batches
    print(mode, recorded, [(e.step_key, e.timeliness) for e in entries if e.timeliness])
    await check_replays(env.client, code, f"action-racing-timer-{mode}")

"""Paying through VNPAY, against a local double that speaks its protocol (tests/vnpay_double.py):
signatures checked both ways, the fee confirmed to the dossier once whatever arrives twice (a
duplicate IPN, an IPN racing the reconciliation's query, a reconciliation retried after dying
between the query and its record), a wrong amount told to the desk and operators with the
applicant paying again, and an IPN that never comes settled by querydr."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from temporalio.api.enums.v1 import EventType
from temporalio.client import ScheduleActionStartWorkflow

from activities import payment_settlement
from activities.payment_settlement import ReconcileRequest, ReconcileResult
from activities.vnpay import hash_data, sign
from api.main import create_app
from domain.catalog import vnd
from motcua.schedules import RECONCILIATION_SCHEDULE_ID, ensure_schedules
from motcua.settings import RefusedToStart, Settings
from store.models import AuditRow, PaymentAttempt, SlipEntryRow
from tests.client import DESK, ApiClient, username
from tests.conftest import Stack, free_port, serving
from tests.vnpay_double import API_PATH, PAY_PATH, VnpayDouble, serve
from worker import build_worker
from workflows.payment_reconciliation import PaymentReconciliationWorkflow

PROCEDURE = "1.001612"  # a fee, paid online
SECRET = "vnpay-test-hash-secret-0123456789"


@dataclass
class Vnpay:
    """The API and a worker configured for VNPAY (the double), beside the session's stack."""

    stack: Stack
    settings: Settings
    double: VnpayDouble
    http: httpx.AsyncClient
    api: ApiClient

    async def dossier_at_payment(self) -> tuple[str, str, str]:
        """A dossier approved and waiting for its fee: (code, lookup key, our pay link)."""
        created = await self.api.submit(PROCEDURE)
        code, key = created["code"], created["lookup_key"]
        await self.api.act(code, DESK, "accept")
        for step in (await self.api.procedure(PROCEDURE))["steps"]:
            await self.api.act(code, username(step["department"], step["role"]), "approve")
        payment = await self.http.get(
            f"/api/v1/dossiers/{code}/payment", headers={"X-Lookup-Key": key}
        )
        return code, key, payment.json()["pay_url"]

    async def pay(self, pay_link: str) -> tuple[str, httpx.Response]:
        """The applicant follows the pay link to VNPAY and pays: (TxnRef, VNPAY's answer)."""
        ours = await self.http.get(pay_link)
        assert ours.status_code == 303, ours.text
        to_vnpay = ours.headers["location"]
        txn_ref = dict(parse_qsl(urlsplit(to_vnpay).query))["vnp_TxnRef"]
        async with httpx.AsyncClient(timeout=30) as browser:
            return txn_ref, await browser.get(to_vnpay)

    async def reconcile(self) -> ReconcileResult:
        """One run of the reconciliation, as its schedule starts it (every attempt asked)."""
        result: ReconcileResult = await self.stack.client.execute_workflow(
            PaymentReconciliationWorkflow.run,
            ReconcileRequest(older_than_minutes=0),
            id=f"reconcile-{uuid.uuid4().hex[:8]}",
            task_queue=self.settings.temporal_task_queue,
        )
        return result

    async def confirmations(self, code: str) -> int:
        """How many payment confirmations the dossier's workflow was sent (its history)."""
        history = await self.stack.client.get_workflow_handle(code).fetch_history()
        return sum(
            1
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
            and e.workflow_execution_signaled_event_attributes.signal_name == "payment_confirmed"
        )

    async def paid_on_the_slip(self, code: str) -> int:
        async with self.stack.sessionmaker() as session:
            actions = await session.scalars(
                select(SlipEntryRow.action).where(SlipEntryRow.dossier_code == code)
            )
            return list(actions).count("paid")

    async def attempts(self, code: str) -> list[PaymentAttempt]:
        async with self.stack.sessionmaker() as session:
            rows = await session.scalars(
                select(PaymentAttempt)
                .where(PaymentAttempt.dossier_code == code)
                .order_by(PaymentAttempt.attempt)
            )
            return list(rows)


@pytest.fixture(scope="module")
async def vnpay(stack: Stack, demo_password: str) -> AsyncIterator[Vnpay]:
    double = VnpayDouble(tmn_code="MOTCUA01", hash_secret=SECRET)
    server, double_url = serve(double)
    port = free_port()
    settings = stack.settings.model_copy(
        update={
            "payment_gateway": "vnpay",
            "vnpay_tmn_code": "MOTCUA01",
            "vnpay_hash_secret": SecretStr(SECRET),
            "vnpay_payment_url": double_url + PAY_PATH,
            "vnpay_api_url": double_url + API_PATH,
            "temporal_task_queue": f"vnpay-{uuid.uuid4().hex[:8]}",
            "api_port": port,
            "public_base_url": f"http://127.0.0.1:{port}",
        }
    )
    # The IPN URL the agency registers with VNPAY.
    double.ipn_url = f"{settings.public_base_url}/api/v1/payments/vnpay/ipn"
    worker = build_worker(stack.client, stack.sessionmaker, settings)
    running = asyncio.create_task(worker.run())
    async with (
        serving(create_app(settings), port),
        httpx.AsyncClient(base_url=settings.public_base_url, timeout=30) as http,
    ):
        yield Vnpay(stack, settings, double, http, ApiClient(http, demo_password))
    await worker.shutdown()
    await running
    server.shutdown()


@pytest.fixture(autouse=True)
def _as_usual(vnpay: Vnpay) -> None:
    vnpay.double.ipn, vnpay.double.overcharge_vnd = "once", 0


async def test_paid_once_though_the_ipn_comes_twice(vnpay: Vnpay) -> None:
    code, key, link = await vnpay.dossier_at_payment()
    assert link == f"{vnpay.settings.public_base_url}/api/v1/payments/{code}/pay"
    vnpay.double.ipn = "twice"
    answers_before = len(vnpay.double.ipn_answers)
    txn_ref, paid = await vnpay.pay(link)
    assert txn_ref == f"{code}-1"
    # The first IPN confirms; the second is told it was (VNPAY's RspCode 02).
    answers = [a["RspCode"] for a in vnpay.double.ipn_answers[answers_before:]]
    assert answers == ["00", "02"]
    await vnpay.api.wait_for(code, key, "done")
    assert await vnpay.confirmations(code) == 1
    assert await vnpay.paid_on_the_slip(code) == 1
    assert vnpay.double.charges[txn_ref] == 1

    # The applicant's browser comes back: to the dossier's page.
    assert paid.status_code == 302
    back = await vnpay.http.get(paid.headers["location"])
    assert back.status_code == 303 and back.headers["location"].endswith(f"/ho-so/{code}")
    # The pay link once paid opens no attempt: on to the dossier's page.
    again = await vnpay.http.get(link)
    assert again.status_code == 303 and again.headers["location"].endswith(f"/ho-so/{code}")
    assert [a.status for a in await vnpay.attempts(code)] == ["paid"]


async def test_signatures(vnpay: Vnpay) -> None:
    code, key, link = await vnpay.dossier_at_payment()
    ours = await vnpay.http.get(link)
    to_vnpay = ours.headers["location"]
    txn_ref = f"{code}-1"
    # VNPAY refuses a pay URL changed on the way (1 đồng instead of the fee): nothing charged.
    fee_hundredths = dict(parse_qsl(urlsplit(to_vnpay).query))["vnp_Amount"]
    tampered = to_vnpay.replace(f"vnp_Amount={fee_hundredths}", "vnp_Amount=100")
    async with httpx.AsyncClient(timeout=30) as browser:
        assert (await browser.get(tampered)).status_code == 400
    assert vnpay.double.refused[-1] == "signature" and vnpay.double.charges[txn_ref] == 0

    # Our IPN refuses what is not signed with the merchant's secret.
    fields = {
        "vnp_TxnRef": txn_ref,
        "vnp_Amount": fee_hundredths,
        "vnp_ResponseCode": "00",
        "vnp_TransactionStatus": "00",
        "vnp_TmnCode": "MOTCUA01",
    }
    ipn = "/api/v1/payments/vnpay/ipn"
    forged = fields | {"vnp_SecureHash": sign("not-the-secret", "anything")}
    assert (await vnpay.http.get(ipn, params=forged)).json()["RspCode"] == "97"
    assert (await vnpay.http.get(ipn, params=fields)).json()["RspCode"] == "97"
    # Signed, but for no attempt of ours, or missing what an IPN carries.
    unknown = {**fields, "vnp_TxnRef": "NO-SUCH-1"}
    assert (await vnpay.http.get(ipn, params=_signed(unknown))).json()["RspCode"] == "01"
    partial = {k: v for k, v in fields.items() if k != "vnp_Amount"}
    assert (await vnpay.http.get(ipn, params=_signed(partial))).json()["RspCode"] == "99"
    # A return with a bad signature is refused; none of it settled anything.
    ret = "/api/v1/payments/vnpay/return"
    assert (await vnpay.http.get(ret, params=forged)).status_code == 400
    assert [a.status for a in await vnpay.attempts(code)] == ["pending"]
    assert (await vnpay.api.status(code, key))["stage"] == "payment"


def _signed(fields: dict[str, str]) -> dict[str, str]:
    return fields | {"vnp_SecureHash": sign(SECRET, hash_data(fields))}


async def test_a_wrong_amount_is_owed_back_and_the_applicant_pays_again(vnpay: Vnpay) -> None:
    code, key, link = await vnpay.dossier_at_payment()
    vnpay.double.overcharge_vnd = 5_000
    first, _ = await vnpay.pay(link)
    assert vnpay.double.ipn_answers[-1]["RspCode"] == "04"  # "Invalid amount"
    [attempt] = await vnpay.attempts(code)
    fee = attempt.amount_vnd
    assert (attempt.status, attempt.paid_amount_vnd) == ("amount_mismatch", fee + 5_000)
    # The dossier still waits for its fee.
    state = await vnpay.api.status(code, key)
    assert state["stage"] == "payment" and await vnpay.confirmations(code) == 0

    # The desk sees it among its alerts; operators in their list; the audit trail keeps it.
    alerts = await vnpay.http.get("/api/v1/alerts", headers=await vnpay.api.as_official(DESK))
    [alert] = [a for a in alerts.json() if a["dossier_code"] == code]
    assert alert["kind"] == "payment_attention" and first in alert["message"]
    # In the desk's words: 105.000 đ, not 105,000 (a comma is the decimal mark in Vietnamese).
    assert f"thu {vnd(fee + 5_000)} thay vì {vnd(fee)}" in alert["message"]
    assert vnd(105_000) == "105.000 đ"
    operator = await vnpay.api.as_official("ops.operator")
    listed = (await vnpay.http.get("/api/v1/admin/payments", headers=operator)).json()
    [owed] = [p for p in listed if p["dossier_code"] == code]
    assert owed == owed | {"status": "amount_mismatch", "txn_ref": first, "paid_vnd": fee + 5_000}
    async with vnpay.stack.sessionmaker() as session:
        audited = await session.scalar(
            select(AuditRow).where(
                AuditRow.dossier_code == code, AuditRow.action == "payment_settled"
            )
        )
        assert audited is not None and audited.detail["outcome"] == "amount_mismatch"

    # The same pay link opens a new attempt; the right amount is paid, once.
    vnpay.double.overcharge_vnd = 0
    second, _ = await vnpay.pay(link)
    assert second == f"{code}-2" and vnpay.double.ipn_answers[-1]["RspCode"] == "00"
    await vnpay.api.wait_for(code, key, "done")
    assert [a.status for a in await vnpay.attempts(code)] == ["amount_mismatch", "paid"]
    assert vnpay.double.charges == vnpay.double.charges | {first: 1, second: 1}
    assert await vnpay.confirmations(code) == 1


async def test_an_ipn_that_never_comes_is_settled_by_the_query(vnpay: Vnpay) -> None:
    code, key, link = await vnpay.dossier_at_payment()
    vnpay.double.ipn = "never"
    txn_ref, _ = await vnpay.pay(link)
    assert vnpay.double.charges[txn_ref] == 1
    assert (await vnpay.api.status(code, key))["stage"] == "payment"
    await vnpay.reconcile()
    assert vnpay.double.queries[txn_ref] == 1
    await vnpay.api.wait_for(code, key, "done")
    assert [a.status for a in await vnpay.attempts(code)] == ["paid"]
    # The IPN, arriving after all: already settled (RspCode 02), nothing recorded again.
    assert (await asyncio.to_thread(vnpay.double.send_ipn, txn_ref))["RspCode"] == "02"
    assert await vnpay.confirmations(code) == 1
    assert await vnpay.paid_on_the_slip(code) == 1
    assert vnpay.double.charges[txn_ref] == 1


async def test_an_ipn_racing_the_query_settles_once(vnpay: Vnpay) -> None:
    code, key, link = await vnpay.dossier_at_payment()
    vnpay.double.ipn = "never"
    txn_ref, _ = await vnpay.pay(link)
    # The reconciliation, and the IPN arriving late at the same moment: one settles it.
    result, late = await asyncio.gather(
        vnpay.reconcile(), asyncio.to_thread(vnpay.double.send_ipn, txn_ref)
    )
    assert late["RspCode"] in ("00", "02")
    assert result.settled + (late["RspCode"] == "00") == 1
    await vnpay.api.wait_for(code, key, "done")
    assert await vnpay.confirmations(code) == 1
    assert await vnpay.paid_on_the_slip(code) == 1
    assert vnpay.double.charges[txn_ref] == 1


async def test_a_reconciliation_dying_midway_records_once(
    vnpay: Vnpay, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker dies after VNPAY answered the query, once before the answer is recorded and
    once after: each retry of the activity asks again, and the payment is recorded and
    confirmed once."""
    code, key, link = await vnpay.dossier_at_payment()
    vnpay.double.ipn = "never"
    txn_ref, _ = await vnpay.pay(link)
    real_settle, calls = payment_settlement.settle, list[int]()

    async def dying(*args: Any, **kwargs: Any) -> payment_settlement.Settlement:
        calls.append(len(calls) + 1)
        if len(calls) == 1:
            raise RuntimeError("worker killed between the query and its record")
        settled = await real_settle(*args, **kwargs)
        if len(calls) == 2:
            raise RuntimeError("worker killed between the record and the activity's end")
        return settled

    monkeypatch.setattr(payment_settlement, "settle", dying)
    result = await vnpay.reconcile()
    # The second run recorded it; the third found nothing pending left to ask about.
    assert calls == [1, 2] and vnpay.double.queries[txn_ref] == 2
    assert result.settled == 0
    await vnpay.api.wait_for(code, key, "done")
    assert await vnpay.confirmations(code) == 1
    assert await vnpay.paid_on_the_slip(code) == 1
    assert vnpay.double.charges[txn_ref] == 1
    assert [a.status for a in await vnpay.attempts(code)] == ["paid"]


def test_the_gateway_configuration_is_refused_when_unusable(settings: Settings) -> None:
    demo = settings.model_copy(update={"payment_gateway": "sandbox", "demo_secrets": True})
    demo.refuse_unusable_gateway()
    with pytest.raises(RefusedToStart, match="no payment gateway configured"):
        settings.model_copy(update={"payment_gateway": None}).refuse_unusable_gateway()
    production = demo.model_copy(update={"demo_secrets": False})
    with pytest.raises(RefusedToStart, match="SANDBOX_GATEWAY_ALLOWED"):
        production.refuse_unusable_gateway()
    production.model_copy(update={"sandbox_gateway_allowed": True}).refuse_unusable_gateway()
    half = Settings(payment_gateway="vnpay", vnpay_tmn_code="MOTCUA01")
    with pytest.raises(RefusedToStart, match="VNPAY_HASH_SECRET, VNPAY_PAYMENT_URL, VNPAY_API_URL"):
        half.refuse_unusable_gateway()


async def test_the_api_and_worker_refuse_an_unusable_gateway(vnpay: Vnpay) -> None:
    half = vnpay.settings.model_copy(update={"vnpay_api_url": None})
    app = create_app(half)
    with pytest.raises(RefusedToStart, match="VNPAY_API_URL"):
        async with app.router.lifespan_context(app):
            pass
    sandbox = vnpay.settings.model_copy(
        update={"payment_gateway": "sandbox", "demo_secrets": False}
    )
    with pytest.raises(RefusedToStart, match="PAYMENT_GATEWAY=sandbox"):
        build_worker(vnpay.stack.client, vnpay.stack.sessionmaker, sandbox)


async def test_the_worker_schedules_the_reconciliation(vnpay: Vnpay) -> None:
    # On the session's own queue: the snapshot's schedule, created again, stays as it was.
    queue = vnpay.stack.settings.temporal_task_queue
    await ensure_schedules(vnpay.stack.client, queue, reconcile_after_minutes=20)
    handle = vnpay.stack.client.get_schedule_handle(RECONCILIATION_SCHEDULE_ID)
    try:
        action = (await handle.describe()).schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.workflow == "PaymentReconciliationWorkflow" and action.task_queue == queue
    finally:
        await handle.delete()

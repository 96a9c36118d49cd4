"""What VNPAY's answer about an attempt does, whether it came by IPN (`api/routes/vnpay.py`) or
by querydr (the reconciliation below): one path, so that either, both, or one of them twice
settle the attempt once and confirm the fee to the dossier's workflow at most once.

The attempt's row is locked, its status checked and changed, and the workflow signalled in one
transaction: a second answer finds it settled; a failed signal undoes the change, and VNPAY (or
the next reconciliation) asks again."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.vnpay import GatewayOutcome, PayAttempt, VnpayAccount, VnpayQuery, parse_vnp_time
from domain.catalog import vnd
from domain.dossier import StatusCode
from store import dossiers as dossiers_repo
from store import payments as repo
from store.audit import AuditEntry, append
from store.db import Sessionmaker
from store.models import PaymentAttempt
from workflows.messages import PaymentConfirmation

log = structlog.get_logger()


class Settlement(StrEnum):
    """What an answer did; `RSP_CODES` says how the IPN tells VNPAY."""

    CONFIRMED = "confirmed"  # paid: the workflow was told
    FAILED = "failed"  # no money taken (cancelled, refused, expired)
    REFUND_DUE = "refund_due"  # paid, for a fee already paid or no longer asked
    AMOUNT_MISMATCH = "amount_mismatch"  # not the amount asked
    PENDING = "pending"  # querydr: the applicant may still be paying
    NOT_FOUND = "not_found"
    ALREADY_SETTLED = "already_settled"


# The merchant's answer to an IPN (VNPAY's documented RspCode values).
RSP_CODES = {
    Settlement.CONFIRMED: ("00", "Confirm Success"),
    Settlement.FAILED: ("00", "Confirm Success"),
    Settlement.REFUND_DUE: ("00", "Confirm Success"),
    Settlement.NOT_FOUND: ("01", "Order not found"),
    Settlement.ALREADY_SETTLED: ("02", "Order already confirmed"),
    Settlement.AMOUNT_MISMATCH: ("04", "Invalid amount"),
}


class EngineUnavailable(RuntimeError):
    """Temporal did not take the confirmation: nothing was changed; ask again later."""


async def settle(
    sessionmaker: Sessionmaker,
    temporal: Client,
    outcome: GatewayOutcome,
    source: str,
    client: str | None = None,
) -> Settlement:
    """Apply VNPAY's `outcome` (from `source`: "ipn" or "querydr") to its attempt, once."""
    async with sessionmaker() as session:
        attempt = await repo.lock_attempt(session, outcome.txn_ref)
        if attempt is None:
            return Settlement.NOT_FOUND
        if attempt.status != "pending":
            return Settlement.ALREADY_SETTLED
        if not outcome.completed:
            return Settlement.PENDING
        attempt.settled_at = datetime.now(UTC)
        attempt.transaction_no, attempt.response_code = outcome.transaction_no, outcome.code
        attempt.paid_amount_vnd = outcome.amount_vnd if outcome.succeeded else None
        code = attempt.dossier_code
        if outcome.amount_vnd != attempt.amount_vnd:
            settled = Settlement.AMOUNT_MISMATCH
            attempt.status = "amount_mismatch" if outcome.succeeded else "failed"
            if outcome.succeeded:
                # The applicant's money is taken but the fee is not paid: it stays asked (a new
                # attempt from the same pay link), and this money is owed back.
                repo.tell_desk(
                    session,
                    attempt,
                    f"VNPAY thu {vnd(outcome.amount_vnd)} thay vì {vnd(attempt.amount_vnd)} "
                    f"(giao dịch {attempt.txn_ref}): cần hoàn trả; người nộp nộp lại đúng số tiền",
                )
        elif not outcome.succeeded:
            settled, attempt.status = Settlement.FAILED, "failed"
        else:
            settled = await _confirm(session, temporal, attempt, outcome)
        await session.commit()
    detail = {
        "txn_ref": outcome.txn_ref,
        "source": source,
        "outcome": str(settled),
        "code": outcome.code,
        "amount_vnd": outcome.amount_vnd,
        "fee_vnd": attempt.amount_vnd,
    }
    audit = AuditEntry("vnpay", "gateway", "payment_settled", code, client, detail)
    await append(sessionmaker, audit)
    if settled in (Settlement.AMOUNT_MISMATCH, Settlement.REFUND_DUE) and outcome.succeeded:
        log.error("payment owed back", dossier_code=code, **detail)
    else:
        log.info("payment attempt settled", dossier_code=code, **detail)
    return settled


async def _confirm(
    session: AsyncSession, temporal: Client, attempt: PaymentAttempt, outcome: GatewayOutcome
) -> Settlement:
    """Paid, the right amount: the fee, unless it no longer waits for this money."""
    payment = await repo.lock_payment(session, attempt.dossier_code)
    dossier = await dossiers_repo.get_dossier(session, attempt.dossier_code)
    assert payment is not None and dossier is not None
    withdrawn = dossier.status_code in (StatusCode.WITHDRAWAL_REQUESTED, StatusCode.STOPPED)
    if payment.status != "pending" or withdrawn:
        attempt.status = "refund_due"
        repo.tell_desk(
            session,
            attempt,
            f"VNPAY thu {vnd(outcome.amount_vnd)} (giao dịch {attempt.txn_ref}) khi phí đã nộp "
            "hoặc hồ sơ đã rút: cần hoàn trả",
        )
        return Settlement.REFUND_DUE
    paid_at = outcome.paid_at or datetime.now(UTC)
    attempt.status, payment.status, payment.paid_at = "paid", "paid", paid_at
    try:
        await temporal.get_workflow_handle(attempt.dossier_code).signal(
            "payment_confirmed",
            PaymentConfirmation(payment.payment_id, outcome.amount_vnd, paid_at, None),
        )
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            await session.rollback()
            raise EngineUnavailable(str(exc)) from exc
        # The dossier is finished: the money is owed back.
        attempt.status, payment.status = "refund_due", "refund_due"
        repo.tell_desk(
            session, attempt, f"VNPAY thu phí (giao dịch {attempt.txn_ref}) khi hồ sơ đã kết thúc"
        )
        return Settlement.REFUND_DUE
    return Settlement.CONFIRMED


def pay_attempt(attempt: PaymentAttempt) -> PayAttempt:
    return PayAttempt(
        attempt.txn_ref,
        attempt.dossier_code,
        attempt.amount_vnd,
        attempt.client_ip,
        attempt.create_date,
        attempt.expire_date,
    )


@dataclass
class ReconcileRequest:
    # Attempts pending for longer than this are asked about.
    older_than_minutes: int
    limit: int = 200


@dataclass
class ReconcileResult:
    asked: int
    settled: int


# An attempt VNPAY never saw is given up this long after its pay URL expired.
_GIVE_UP_AFTER_EXPIRY = timedelta(minutes=15)


class PaymentReconciliation:
    """The worker's side of reconciliation (started by the `payment-reconciliation` schedule)."""

    def __init__(
        self, sessionmaker: Sessionmaker, account: VnpayAccount, http: httpx.AsyncClient
    ) -> None:
        self._sessionmaker = sessionmaker
        self._query = VnpayQuery(account, http)

    @activity.defn
    async def reconcile_payments(self, request: ReconcileRequest) -> ReconcileResult:
        """Ask VNPAY about the attempts no IPN settled, and settle them as an IPN would. A retry
        (the worker died midway) asks again: what was settled stays settled, once."""
        now = datetime.now(UTC)
        async with self._sessionmaker() as session:
            pending = await repo.pending_attempts(
                session, now - timedelta(minutes=request.older_than_minutes), request.limit
            )
        settled = 0
        for attempt in pending:
            activity.heartbeat(attempt.txn_ref)
            outcome = await self._query.outcome(pay_attempt(attempt), now)
            if outcome is None:
                settled += await self._give_up_if_expired(attempt, now)
                continue
            done = await settle(self._sessionmaker, activity.client(), outcome, "querydr")
            settled += done not in (Settlement.PENDING, Settlement.ALREADY_SETTLED)
        return ReconcileResult(len(pending), settled)

    async def _give_up_if_expired(self, attempt: PaymentAttempt, now: datetime) -> bool:
        """VNPAY never saw it: once its pay URL is long expired, nobody can pay it any more."""
        if parse_vnp_time(attempt.expire_date) + _GIVE_UP_AFTER_EXPIRY > now:
            return False
        async with self._sessionmaker.begin() as session:
            locked = await repo.lock_attempt(session, attempt.txn_ref)
            if locked is None or locked.status != "pending":
                return False
            locked.status, locked.settled_at = "expired", now
        log.info("payment attempt expired", dossier_code=attempt.dossier_code, txn=attempt.txn_ref)
        return True

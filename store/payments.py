"""Queries over payment attempts at the real gateway (`payment_attempts`, migration 0010)."""

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import OfficialAlertRow, Payment, PaymentAttempt

# Money taken that is owed back: what operators and the desk must see to.
NEEDS_ATTENTION = ("amount_mismatch", "refund_due")


async def lock_payment(session: AsyncSession, code: str) -> Payment | None:
    """The dossier's fee, locked until the transaction ends: attempts are opened, and settled,
    one at a time per dossier."""
    return await session.scalar(
        select(Payment)
        .where(Payment.dossier_code == code)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def lock_attempt(session: AsyncSession, txn_ref: str) -> PaymentAttempt | None:
    return await session.scalar(
        select(PaymentAttempt)
        .where(PaymentAttempt.txn_ref == txn_ref)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def latest_attempt(session: AsyncSession, code: str) -> PaymentAttempt | None:
    return await session.scalar(
        select(PaymentAttempt)
        .where(PaymentAttempt.dossier_code == code)
        .order_by(PaymentAttempt.attempt.desc())
        .limit(1)
    )


async def attempts_of(session: AsyncSession, code: str) -> list[PaymentAttempt]:
    rows = await session.scalars(
        select(PaymentAttempt)
        .where(PaymentAttempt.dossier_code == code)
        .order_by(PaymentAttempt.attempt)
    )
    return list(rows)


async def pending_attempts(
    session: AsyncSession, created_before: datetime, limit: int
) -> list[PaymentAttempt]:
    """Attempts no answer came for, the oldest first."""
    rows = await session.scalars(
        select(PaymentAttempt)
        .where(PaymentAttempt.status == "pending", PaymentAttempt.created_at < created_before)
        .order_by(PaymentAttempt.created_at)
        .limit(limit)
    )
    return list(rows)


async def attempts_needing_attention(session: AsyncSession, limit: int) -> list[PaymentAttempt]:
    """Attempts that took money owed back (a wrong amount, a fee paid twice or for a dossier no
    longer waiting for it), the latest first."""
    rows = await session.scalars(
        select(PaymentAttempt)
        .where(PaymentAttempt.status.in_(NEEDS_ATTENTION))
        .order_by(PaymentAttempt.settled_at.desc())
        .limit(limit)
    )
    return list(rows)


async def fees_to_refund(session: AsyncSession, limit: int) -> list[Payment]:
    """Fees paid for dossiers withdrawn or finished meanwhile, or paid wrongly through the
    sandbox's callback (which has no attempts), the latest first."""
    rows = await session.scalars(
        select(Payment)
        .where(Payment.status.in_(NEEDS_ATTENTION))
        .order_by(func.coalesce(Payment.paid_at, Payment.created_at).desc())
        .limit(limit)
    )
    return list(rows)


def tell_desk(session: AsyncSession, attempt: PaymentAttempt, message: str) -> None:
    """An alert in the dossier's desk's inbox (the officials' "Cần chú ý"), once per attempt."""
    session.add(
        OfficialAlertRow(
            dossier_code=attempt.dossier_code,
            # The attempt's number: unique with the kind, and apart from the workflow's alerts.
            seq=attempt.attempt,
            kind="payment_attention",
            department=attempt.desk_department,
            role=attempt.desk_role,
            assignee=None,
            message=f"{attempt.dossier_code}: {message}",
        )
    )

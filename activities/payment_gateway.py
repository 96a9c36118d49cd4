"""Payment gateways behind one interface. The sandbox gateway ships with the embedded stack and
behaves like a real one: it keeps its own book, shows a pay page, and confirms by a signed
callback to the API (see `api/routes/sandbox.py`)."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from store.db import Sessionmaker
from store.models import SandboxGatewayPayment


@dataclass
class GatewayPayment:
    payment_id: str
    pay_url: str


class PaymentGateway(Protocol):
    async def create_payment(self, merchant_ref: str, amount_vnd: int) -> GatewayPayment:
        """Create (or return the already created) payment for `merchant_ref`: gateways
        deduplicate on the merchant's reference, which makes a retried request harmless."""
        ...


class SandboxGateway:
    def __init__(self, sessionmaker: Sessionmaker, public_base_url: str) -> None:
        self._sessionmaker = sessionmaker
        self._base_url = public_base_url.rstrip("/")

    async def create_payment(self, merchant_ref: str, amount_vnd: int) -> GatewayPayment:
        async with self._sessionmaker.begin() as session:
            await session.execute(
                insert(SandboxGatewayPayment)
                .values(
                    payment_id=f"SBX-{uuid.uuid4().hex[:16].upper()}",
                    merchant_ref=merchant_ref,
                    amount_vnd=amount_vnd,
                    status="pending",
                )
                .on_conflict_do_nothing(index_elements=["merchant_ref"])
            )
            payment_id = await session.scalar(
                select(SandboxGatewayPayment.payment_id).where(
                    SandboxGatewayPayment.merchant_ref == merchant_ref
                )
            )
        assert payment_id is not None
        return GatewayPayment(payment_id, f"{self._base_url}/sandbox/pay/{payment_id}")

    # The gateway's own side, used by its pay page (api/routes/sandbox.py).

    async def find(self, payment_id: str) -> SandboxGatewayPayment | None:
        async with self._sessionmaker() as session:
            return await session.get(SandboxGatewayPayment, payment_id)

    async def pay(self, payment_id: str) -> SandboxGatewayPayment | None:
        """Mark the payment paid (once: paying again changes nothing) and return it."""
        async with self._sessionmaker.begin() as session:
            payment = await session.get(SandboxGatewayPayment, payment_id, with_for_update=True)
            if payment is not None and payment.paid_at is None:
                payment.status, payment.paid_at = "paid", datetime.now(UTC)
            return payment

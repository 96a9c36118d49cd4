"""Everything a dossier workflow does to the outside world. Each activity is idempotent: a
retry, or a replay after a worker crash, writes, charges or issues nothing twice."""

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from temporalio import activity

from activities.payment_gateway import PaymentGateway
from domain.documents import render_decision
from domain.dossier import SlipEntry, Task
from domain.notifications import recipients, status_message
from store.db import Sessionmaker
from store.models import Document, Dossier, Notification, Payment, SlipEntryRow


@dataclass
class TransitionRecord:
    """The dossier's state after a transition, and the control-slip entries that led there."""

    code: str
    seq: int
    status_code: int
    stage: str
    outcome: str
    task: Task | None
    due_at: datetime
    finished_at: datetime | None
    entries: list[SlipEntry]


@dataclass
class PaymentRequestInput:
    dossier_code: str
    amount_vnd: int


@dataclass
class PaymentRequestResult:
    payment_id: str
    pay_url: str


@dataclass
class DeskPaymentInput:
    dossier_code: str
    amount_vnd: int
    received_by: str
    paid_at: datetime


@dataclass
class IssueDocumentInput:
    dossier_code: str
    kind: str  # "result" or "refusal"
    note: str | None
    issued_at: datetime


@dataclass
class IssuedDocument:
    document_id: str
    name: str
    sha256: str


class DossierActivities:
    def __init__(self, sessionmaker: Sessionmaker, gateway: PaymentGateway) -> None:
        self._sessionmaker = sessionmaker
        self._gateway = gateway

    @activity.defn
    async def record_transition(self, record: TransitionRecord) -> None:
        """Bring the read model up to `record`, and queue the applicant's notification when the
        status changed. Updates are ordered by `seq`, so an old record delivered late never
        moves the dossier backwards; slip entries and notifications are keyed by their seq."""
        task = record.task
        async with self._sessionmaker.begin() as session:
            current = (
                await session.execute(
                    select(Dossier.status_code, Dossier.applicant)
                    .where(Dossier.code == record.code, Dossier.last_seq < record.seq)
                    .with_for_update()
                )
            ).first()
            status_changed = current is not None and (
                record.seq == 1 or current.status_code != record.status_code
            )
            contacts = recipients(current.applicant) if current and status_changed else []
            if contacts:
                # A new status for the applicant: into the outbox, in this same transaction.
                await session.execute(
                    insert(Notification)
                    .values(
                        [
                            {
                                "dossier_code": record.code,
                                "seq": record.seq,
                                "status_code": record.status_code,
                                "channel": channel,
                                "recipient": address,
                                "message": status_message(
                                    record.code, record.status_code, record.due_at
                                ),
                            }
                            for channel, address in contacts
                        ]
                    )
                    .on_conflict_do_nothing(index_elements=["dossier_code", "seq", "channel"])
                )
            await session.execute(
                update(Dossier)
                .where(Dossier.code == record.code, Dossier.last_seq < record.seq)
                .values(
                    status_code=record.status_code,
                    stage=record.stage,
                    outcome=record.outcome,
                    step_key=task.step_key if task else None,
                    step_name=task.step_name if task else None,
                    department=task.department if task else None,
                    role=task.role if task else None,
                    step_started_at=task.started_at if task else None,
                    step_due_at=task.due_at if task else None,
                    due_at=record.due_at,
                    finished_at=record.finished_at,
                    last_seq=record.seq,
                    updated_at=datetime.now().astimezone(),
                )
            )
            if record.entries:
                await session.execute(
                    insert(SlipEntryRow)
                    .values(
                        [
                            {
                                "dossier_code": record.code,
                                "seq": e.seq,
                                "step_key": e.step_key,
                                "department": e.department,
                                "actor": e.actor,
                                "action": e.action,
                                "at": e.at,
                                "note": e.note,
                                "timeliness": e.timeliness,
                            }
                            for e in record.entries
                        ]
                    )
                    .on_conflict_do_nothing(index_elements=["dossier_code", "seq"])
                )

    @activity.defn
    async def request_payment(self, request: PaymentRequestInput) -> PaymentRequestResult:
        """Ask the gateway for a payment; the dossier code is the merchant reference, so a retry
        gets the same payment back instead of a second charge."""
        created = await self._gateway.create_payment(request.dossier_code, request.amount_vnd)
        async with self._sessionmaker.begin() as session:
            await session.execute(
                insert(Payment)
                .values(
                    dossier_code=request.dossier_code,
                    payment_id=created.payment_id,
                    amount_vnd=request.amount_vnd,
                    status="pending",
                    pay_url=created.pay_url,
                    via="gateway",
                )
                .on_conflict_do_nothing(index_elements=["dossier_code"])
            )
        return PaymentRequestResult(created.payment_id, created.pay_url)

    @activity.defn
    async def settle_payment_on_withdrawal(self, dossier_code: str) -> None:
        """A withdrawn dossier owes no fee: a pending payment is cancelled, a paid one is marked
        for refund. Repeating it changes nothing."""
        async with self._sessionmaker.begin() as session:
            for before, after in (("pending", "cancelled"), ("paid", "refund_due")):
                await session.execute(
                    update(Payment)
                    .where(Payment.dossier_code == dossier_code, Payment.status == before)
                    .values(status=after, pay_url=None)
                )

    @activity.defn
    async def record_desk_payment(self, payment: DeskPaymentInput) -> None:
        """The fee was paid at the desk: record it once (a repeat changes nothing)."""
        async with self._sessionmaker.begin() as session:
            await session.execute(
                insert(Payment)
                .values(
                    dossier_code=payment.dossier_code,
                    payment_id=f"DESK-{payment.dossier_code}",
                    amount_vnd=payment.amount_vnd,
                    status="paid",
                    via=f"desk:{payment.received_by}",
                    paid_at=payment.paid_at,
                )
                .on_conflict_do_update(
                    index_elements=["dossier_code"],
                    set_={"status": "paid", "paid_at": payment.paid_at},
                    where=Payment.status != "paid",
                )
            )

    @activity.defn
    async def issue_document(self, request: IssueDocumentInput) -> IssuedDocument:
        """Issue the dossier's result (or written refusal) once; a retry returns the same one."""
        async with self._sessionmaker.begin() as session:
            existing = await session.scalar(
                select(Document).where(
                    Document.dossier_code == request.dossier_code, Document.kind == request.kind
                )
            )
            if existing is None:
                dossier = await session.get_one(Dossier, request.dossier_code)
                rendered = render_decision(
                    kind=request.kind,
                    dossier_code=dossier.code,
                    procedure_code=dossier.procedure_code,
                    applicant_name=str(dossier.applicant.get("full_name", "")),
                    applicant_id=str(dossier.applicant.get("id_number", "")),
                    note=request.note,
                    issued_at=request.issued_at,
                )
                await session.execute(
                    insert(Document)
                    .values(
                        id=uuid.uuid4(),
                        dossier_code=dossier.code,
                        kind=request.kind,
                        name=rendered.name,
                        content_type=rendered.content_type,
                        sha256=hashlib.sha256(rendered.content).hexdigest(),
                        content=rendered.content,
                        issued_at=request.issued_at,
                    )
                    .on_conflict_do_nothing(index_elements=["dossier_code", "kind"])
                )
                existing = await session.scalar(
                    select(Document).where(
                        Document.dossier_code == request.dossier_code,
                        Document.kind == request.kind,
                    )
                )
            assert existing is not None
            return IssuedDocument(str(existing.id), existing.name, existing.sha256)

"""ORM mappings of the tables created by `migrations/`."""

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, SmallInteger, Text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TIMESTAMP


class Base(DeclarativeBase):
    type_annotation_map = {
        datetime: TIMESTAMP(timezone=True),
        dict[str, Any]: JSONB,
        list[Any]: JSONB,
        str: Text,
    }


class CatalogVersion(Base):
    __tablename__ = "catalog_versions"
    version: Mapped[str] = mapped_column(primary_key=True)
    content: Mapped[dict[str, Any]]
    loaded_at: Mapped[datetime] = mapped_column(server_default="now()")


class Official(Base):
    __tablename__ = "officials"
    username: Mapped[str] = mapped_column(primary_key=True)
    password_hash: Mapped[str]
    department: Mapped[str]
    role: Mapped[str]
    full_name: Mapped[str | None]
    active: Mapped[bool] = mapped_column(default=True)
    # In every token issued to the official; moved on to refuse the tokens issued before.
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(server_default="now()")


class StoredFile(Base):
    __tablename__ = "files"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    sha256: Mapped[str]
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str]
    storage_name: Mapped[str]
    original_name: Mapped[str | None]
    created_at: Mapped[datetime] = mapped_column(server_default="now()")


class DossierSequence(Base):
    __tablename__ = "dossier_sequences"
    agency_code: Mapped[str] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer)


class Dossier(Base):
    __tablename__ = "dossiers"
    code: Mapped[str] = mapped_column(primary_key=True)
    agency_code: Mapped[str]
    procedure_code: Mapped[str]
    catalog_version: Mapped[str] = mapped_column(ForeignKey("catalog_versions.version"))
    channel: Mapped[str]
    applicant_kind: Mapped[str]
    applicant: Mapped[dict[str, Any]]
    form: Mapped[dict[str, Any]]
    documents: Mapped[list[Any]]
    delivery: Mapped[dict[str, Any]]
    fee_vnd: Mapped[int] = mapped_column(Integer)
    lookup_salt: Mapped[str]
    idempotency_key: Mapped[str | None]
    request_hash: Mapped[str]
    received_at: Mapped[datetime]
    due_at: Mapped[datetime]
    status_code: Mapped[int] = mapped_column(SmallInteger, default=1)
    stage: Mapped[str] = mapped_column(default="intake")
    outcome: Mapped[str] = mapped_column(default="pending")
    step_key: Mapped[str | None]
    step_name: Mapped[str | None]
    department: Mapped[str | None]
    role: Mapped[str | None]
    step_started_at: Mapped[datetime | None]
    step_due_at: Mapped[datetime | None]
    processed_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    assignee: Mapped[str | None]
    supplement_requests: Mapped[int] = mapped_column(SmallInteger, default=0)
    supplement_hours: Mapped[float] = mapped_column(default=0.0)
    # Copied from payments and ratings by triggers, for the service index (migration 0007).
    paid_online: Mapped[bool] = mapped_column(default=False)
    satisfaction: Mapped[str | None]
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(server_default="now()")


class SlipEntryRow(Base):
    __tablename__ = "slip_entries"
    dossier_code: Mapped[str] = mapped_column(ForeignKey("dossiers.code"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    step_key: Mapped[str]
    department: Mapped[str]
    actor: Mapped[str]
    action: Mapped[str]
    at: Mapped[datetime]
    note: Mapped[str | None]
    timeliness: Mapped[str | None]


class Payment(Base):
    __tablename__ = "payments"
    dossier_code: Mapped[str] = mapped_column(ForeignKey("dossiers.code"), primary_key=True)
    payment_id: Mapped[str]
    amount_vnd: Mapped[int] = mapped_column(Integer)
    status: Mapped[str]
    pay_url: Mapped[str | None]
    via: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(server_default="now()")
    paid_at: Mapped[datetime | None]


class PaymentEvent(Base):
    __tablename__ = "payment_events"
    event_id: Mapped[str] = mapped_column(primary_key=True)
    payment_id: Mapped[str]
    received_at: Mapped[datetime] = mapped_column(server_default="now()")


class PaymentAttempt(Base):
    __tablename__ = "payment_attempts"
    txn_ref: Mapped[str] = mapped_column(primary_key=True)
    dossier_code: Mapped[str] = mapped_column(ForeignKey("payments.dossier_code"))
    attempt: Mapped[int] = mapped_column(Integer)
    amount_vnd: Mapped[int] = mapped_column(Integer)
    status: Mapped[str]
    client_ip: Mapped[str]
    create_date: Mapped[str]
    expire_date: Mapped[str]
    desk_department: Mapped[str]
    desk_role: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(server_default="now()")
    settled_at: Mapped[datetime | None]
    transaction_no: Mapped[str | None]
    response_code: Mapped[str | None]
    paid_amount_vnd: Mapped[int | None] = mapped_column(BigInteger)


class SandboxGatewayPayment(Base):
    __tablename__ = "sandbox_gateway_payments"
    payment_id: Mapped[str] = mapped_column(primary_key=True)
    merchant_ref: Mapped[str]
    amount_vnd: Mapped[int] = mapped_column(Integer)
    status: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(server_default="now()")
    paid_at: Mapped[datetime | None]


class Document(Base):
    __tablename__ = "documents"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    dossier_code: Mapped[str] = mapped_column(ForeignKey("dossiers.code"))
    kind: Mapped[str]
    name: Mapped[str]
    content_type: Mapped[str]
    sha256: Mapped[str | None]
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    context: Mapped[dict[str, Any] | None]
    issued_at: Mapped[datetime]
    seq: Mapped[int] = mapped_column(Integer, default=0)
    # Until when an API process's claim to render it holds (api/documents.py).
    rendering_until: Mapped[datetime | None]


class Notification(Base):
    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    dossier_code: Mapped[str] = mapped_column(ForeignKey("dossiers.code"))
    seq: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int] = mapped_column(SmallInteger)
    channel: Mapped[str]
    recipient: Mapped[str]
    message: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(server_default="now()")
    sent_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    retry_at: Mapped[datetime | None]
    last_error: Mapped[str | None]


class Consultation(Base):
    __tablename__ = "consultations"
    id: Mapped[str] = mapped_column(primary_key=True)
    dossier_code: Mapped[str] = mapped_column(ForeignKey("dossiers.code"))
    step_key: Mapped[str]
    department: Mapped[str]
    role: Mapped[str]
    question: Mapped[str | None]
    asked_at: Mapped[datetime]
    due_at: Mapped[datetime]
    status: Mapped[str]
    answered_by: Mapped[str | None]
    opinion: Mapped[str | None]
    closed_at: Mapped[datetime | None]


class OfficialAlertRow(Base):
    __tablename__ = "official_alerts"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    dossier_code: Mapped[str] = mapped_column(ForeignKey("dossiers.code"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str]
    department: Mapped[str]
    role: Mapped[str]
    assignee: Mapped[str | None]
    message: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(server_default="now()")


class AuditRow(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str]
    role: Mapped[str]
    action: Mapped[str]
    dossier_code: Mapped[str | None]
    client: Mapped[str | None]
    detail: Mapped[dict[str, Any]]
    row_hash: Mapped[str]


class RefusalCount(Base):
    """Refusals of the unidentified, one row per client, kind and hour (store/audit.py)."""

    __tablename__ = "audit_refusals"
    client: Mapped[str] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]
    example: Mapped[dict[str, Any]]


class FailedAttempt(Base):
    __tablename__ = "failed_attempts"
    key: Mapped[str] = mapped_column(primary_key=True)
    minute: Mapped[datetime] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class Rating(Base):
    __tablename__ = "ratings"
    dossier_code: Mapped[str] = mapped_column(ForeignKey("dossiers.code"), primary_key=True)
    satisfaction: Mapped[str]
    comment: Mapped[str | None]
    rated_at: Mapped[datetime] = mapped_column(server_default="now()")


class ServiceIndexSnapshot(Base):
    __tablename__ = "service_index_snapshots"
    scope: Mapped[str] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    name: Mapped[str]
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    counts: Mapped[dict[str, Any]]
    taken_at: Mapped[datetime] = mapped_column(server_default="now()")

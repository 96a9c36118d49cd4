"""Everything a dossier workflow does to the outside world. Each activity is idempotent: a
retry, or a replay after a worker crash, writes, charges or issues nothing twice."""

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.payment_gateway import PaymentGateway
from domain.catalog import Catalog, LoadedCatalog
from domain.documents import (
    TITLES,
    ControlSlipRow,
    DocumentContext,
    applicant_id_hmac,
    context_to_json,
)
from domain.dossier import (
    DESK_STEP_NAMES,
    SUPPLEMENT_STEP,
    SUPPLEMENT_STEP_NAME,
    DocumentKind,
    SlipAction,
    SlipEntry,
    Stage,
    Task,
)
from domain.notifications import recipients, status_message
from store.catalog import catalog_content
from store.db import Sessionmaker
from store.models import (
    Base,
    Consultation,
    Document,
    Dossier,
    Notification,
    OfficialAlertRow,
    Payment,
    SlipEntryRow,
)
from workflows.messages import ConsultationInput, SupplementSubmission

log = structlog.get_logger()


@dataclass
class DocumentIssue:
    """A document the dossier is issued at a transition (stored with the transition's seq)."""

    kind: str
    issued_by: str | None
    note: str | None = None
    components: list[str] = field(default_factory=list)  # the missing ones, for form 02
    previous_due_at: datetime | None = None  # the appointment an apology moves…
    new_due_at: datetime | None = None  # …and the new one


@dataclass
class OfficialAlert:
    """Something an official (a department and role, or one assignee) must be told."""

    kind: str  # reminder, overdue, apology_due, assigned
    department: str
    role: str
    assignee: str | None
    message: str


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
    supplement_requests: int = 0
    supplement_hours: float = 0.0
    documents: list[DocumentIssue] = field(default_factory=list)
    alerts: list[OfficialAlert] = field(default_factory=list)
    # A message for the applicant although the status did not change (an apology).
    notice: str | None = None
    request_id: str | None = None  # of the API request that caused it, if one did


@dataclass
class SupplementRecord:
    dossier_code: str
    round: int  # the dossier's n-th supplement request
    submission: SupplementSubmission


@dataclass
class ConsultationRecord:
    id: str
    input: ConsultationInput
    status: str
    answered_by: str | None
    opinion: str | None
    at: datetime


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
    # Histories from before documents were rendered on first read carry the PDF's hash here.
    sha256: str | None = None


# The API starts a dossier's workflow just before it commits the dossier's row, so the first
# record may come a moment early; a row that is still missing after this many attempts was
# never committed (the API failed in between), and the workflow fails instead of retrying on.
_ATTEMPTS_FOR_A_MISSING_ROW = 20


def _no_dossier_row(code: str) -> ApplicationError:
    attempt = activity.info().attempt
    return ApplicationError(
        f"no dossier row {code} (attempt {attempt}): its submission was not committed",
        type="DossierNotRecorded",
        non_retryable=attempt >= _ATTEMPTS_FOR_A_MISSING_ROW,
    )


def _result_issued_at(record: TransitionRecord) -> datetime | None:
    """When this record's entries say the result was issued (status 9), if they do."""
    issued = [e.at for e in record.entries if e.action == SlipAction.RESULT_ISSUED]
    return issued[0] if issued else None


async def _insert_new(
    session: AsyncSession, table: type[Base], rows: list[dict[str, Any]], keys: list[str]
) -> None:
    """Insert the rows not there yet (by `keys`): a retried activity adds nothing twice."""
    if rows:
        await session.execute(
            insert(table).values(rows).on_conflict_do_nothing(index_elements=keys)
        )


class DossierActivities:
    def __init__(
        self, sessionmaker: Sessionmaker, gateway: PaymentGateway, document_key: bytes
    ) -> None:
        self._sessionmaker = sessionmaker
        self._gateway = gateway
        self._id_key = document_key  # keys the applicant ID's hash in documents' QR codes
        self._catalogs: dict[str, LoadedCatalog] = {}

    @activity.defn
    async def record_transition(self, record: TransitionRecord) -> None:
        """Bring the read model up to `record`, and queue the applicant's notification when the
        status changed. Updates are ordered by `seq`, so an old record delivered late never
        moves the dossier backwards; slip entries, documents, alerts and notifications are
        keyed by their seq, so a retry adds none of them twice."""
        task = record.task
        async with self._sessionmaker.begin() as session:
            current = (
                await session.execute(
                    select(Dossier.status_code, Dossier.applicant, Dossier.last_seq)
                    .where(Dossier.code == record.code)
                    .with_for_update()
                )
            ).first()
            if current is None:
                raise _no_dossier_row(record.code)
            # A record older than the one applied already changes no state (it arrived late),
            # but its notice (an apology) still goes out.
            newer = current.last_seq < record.seq
            status_changed = newer and (
                record.seq == 1 or current.status_code != record.status_code
            )
            message = record.notice or (
                status_message(record.code, record.status_code, record.due_at)
                if status_changed
                else None
            )
            contacts = recipients(current.applicant) if message else []
            # A message for the applicant: into the outbox, in this same transaction.
            await _insert_new(
                session,
                Notification,
                [
                    {
                        "dossier_code": record.code,
                        "seq": record.seq,
                        "status_code": record.status_code,
                        "channel": channel,
                        "recipient": address,
                        "message": message,
                    }
                    for channel, address in contacts
                ],
                ["dossier_code", "seq", "channel"],
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
                    assignee=task.assignee if task else None,
                    step_started_at=task.started_at if task else None,
                    step_due_at=task.due_at if task else None,
                    due_at=record.due_at,
                    finished_at=record.finished_at,
                    processed_at=func.coalesce(Dossier.processed_at, _result_issued_at(record)),
                    supplement_requests=record.supplement_requests,
                    supplement_hours=record.supplement_hours,
                    last_seq=record.seq,
                    updated_at=datetime.now().astimezone(),
                )
            )
            await _insert_new(
                session,
                SlipEntryRow,
                [{"dossier_code": record.code, **asdict(e)} for e in record.entries],
                ["dossier_code", "seq"],
            )
            await _insert_new(
                session,
                OfficialAlertRow,
                [
                    {
                        **asdict(a),
                        "dossier_code": record.code,
                        "seq": record.seq,
                        "message": f"{record.code}: {a.message}",
                    }
                    for a in record.alerts
                ],
                ["dossier_code", "seq", "kind"],
            )
            for issue in record.documents:
                issued_at = record.entries[-1].at if record.entries else datetime.now().astimezone()
                await self._issue(session, record.code, record.seq, issue, issued_at)
        if newer:  # once per transition, however often the activity ran
            log.info(
                "dossier transition",
                dossier_code=record.code,
                request_id=record.request_id,
                seq=record.seq,
                status_code=record.status_code,
                stage=record.stage,
                step=task.step_key if task else None,
                department=task.department if task else None,
                assignee=task.assignee if task else None,
                actions=[e.action for e in record.entries],
            )

    async def _issue(
        self,
        session: AsyncSession,
        code: str,
        seq: int,
        issue: DocumentIssue,
        issued_at: datetime,
    ) -> Document:
        """Issue a document once (a retry finds the one it issued): what it says is fixed now,
        as its context; the PDF is rendered from it when first read (`api/documents.py`),
        which keeps a tenth of a second of CPU per document off the dossier's way."""
        kind = DocumentKind(issue.kind)
        query = select(Document).where(
            Document.dossier_code == code, Document.kind == kind, Document.seq == seq
        )
        existing = await session.scalar(query)
        if existing is not None:
            return existing
        dossier = await session.get_one(Dossier, code)
        context = await self._document_context(session, dossier, issue, issued_at)
        issued = {
            "id": uuid.uuid4(),
            "dossier_code": code,
            "kind": kind,
            "seq": seq,
            "name": TITLES[kind],
            "content_type": "application/pdf",
            "context": context_to_json(context),
            "issued_at": issued_at,
        }
        await _insert_new(session, Document, [issued], ["dossier_code", "kind", "seq"])
        stored = await session.scalar(query)
        assert stored is not None
        return stored

    async def _catalog(self, session: AsyncSession, version: str) -> LoadedCatalog:
        """The catalog version a dossier pinned (names of its agency, departments, steps)."""
        catalog = self._catalogs.get(version)
        if catalog is None:
            content = await catalog_content(session, version)
            assert content is not None, f"catalog version {version} is not recorded"
            catalog = self._catalogs[version] = LoadedCatalog(Catalog.model_validate(content))
        return catalog

    async def _document_context(
        self, session: AsyncSession, dossier: Dossier, issue: DocumentIssue, issued_at: datetime
    ) -> DocumentContext:
        catalog = await self._catalog(session, dossier.catalog_version)
        procedure = catalog.procedures[dossier.procedure_code]
        component_names = {c.code: c.name for c in procedure.components}
        return DocumentContext(
            agency_name=catalog.agencies[dossier.agency_code].name,
            procedure_code=procedure.code,
            procedure_name=procedure.name,
            dossier_code=dossier.code,
            applicant_name=str(dossier.applicant.get("full_name", "")),
            applicant_id_hmac=applicant_id_hmac(
                str(dossier.applicant.get("id_number", "")), self._id_key
            ),
            received_at=dossier.received_at,
            # An apology shows the appointment it moves, and the new one.
            due_at=issue.previous_due_at or dossier.due_at,
            new_due_at=issue.new_due_at,
            issued_at=issued_at,
            issued_by=issue.issued_by,
            # Each component once, though a supplement may have brought a second file of it.
            components=list(
                dict.fromkeys(
                    component_names.get(d["component"], d["component"]) for d in dossier.documents
                )
            ),
            missing_components=[component_names.get(c, c) for c in issue.components],
            note=issue.note,
            slip_rows=(
                await self._slip_rows(session, dossier, catalog)
                if issue.kind == DocumentKind.CONTROL_SLIP
                else []
            ),
        )

    @staticmethod
    async def _slip_rows(
        session: AsyncSession, dossier: Dossier, catalog: LoadedCatalog
    ) -> list[ControlSlipRow]:
        """The control slip: each entry, from the unit that held the dossier to the next."""
        entries = list(
            await session.scalars(
                select(SlipEntryRow)
                .where(SlipEntryRow.dossier_code == dossier.code)
                .order_by(SlipEntryRow.seq)
            )
        )
        steps = {s.key: s.name for s in catalog.procedures[dossier.procedure_code].steps}
        names = {
            **{str(k): v for k, v in DESK_STEP_NAMES.items()},
            Stage.ROUTING: "Chuyển xử lý",
            Stage.DONE: "Kết thúc",
            SUPPLEMENT_STEP: SUPPLEMENT_STEP_NAME,
            **steps,
        }
        units = {d.code: d.name for d in catalog.catalog.departments}
        # A step's start is its receipt, shown by the handover row before it.
        entries = [e for e in entries if e.action != SlipAction.STEP_STARTED]
        rows = []
        for entry, following in zip(entries, [*entries[1:], None], strict=True):
            receiver = following.department if following else entry.department
            rows.append(
                ControlSlipRow(
                    step_name=names.get(entry.step_key, entry.step_key),
                    from_unit=units.get(entry.department, entry.department),
                    to_unit=units.get(receiver, receiver),
                    person=entry.actor,
                    at=entry.at,
                    timeliness=entry.timeliness,
                )
            )
        return rows

    @activity.defn
    async def record_supplement(self, record: SupplementRecord) -> None:
        """Add what the applicant sent to the dossier's documents (once per supplement round)."""
        async with self._sessionmaker.begin() as session:
            dossier = await session.get_one(Dossier, record.dossier_code, with_for_update=True)
            supplied = [
                {"component": c.component_code, "file_id": c.file_id, "supplement": record.round}
                for c in record.submission.components
            ]
            if not any(d.get("supplement") == record.round for d in dossier.documents):
                dossier.documents = [*dossier.documents, *supplied]

    @activity.defn
    async def record_consultation(self, record: ConsultationRecord) -> None:
        """The consulted department's row: opened when asked, closed when answered, unanswered
        in time, or cancelled. Closing twice changes nothing."""
        asked = record.input
        async with self._sessionmaker.begin() as session:
            opened = {
                "id": record.id,
                "dossier_code": asked.dossier_code,
                "step_key": asked.step_key,
                "department": asked.department,
                "role": asked.role,
                "question": asked.question,
                "asked_at": asked.asked_at,
                "due_at": asked.due_at,
                "status": "open",
            }
            await _insert_new(session, Consultation, [opened], ["id"])
            if record.status != "open":
                await session.execute(
                    update(Consultation)
                    .where(Consultation.id == record.id, Consultation.status == "open")
                    .values(
                        status=record.status,
                        answered_by=record.answered_by,
                        opinion=record.opinion,
                        closed_at=record.at,
                    )
                )

    @activity.defn
    async def request_payment(self, request: PaymentRequestInput) -> PaymentRequestResult:
        """Ask the gateway for a payment; the dossier code is the merchant reference, so a retry
        gets the same payment back instead of a second charge."""
        created = await self._gateway.create_payment(request.dossier_code, request.amount_vnd)
        async with self._sessionmaker.begin() as session:
            requested = {
                "dossier_code": request.dossier_code,
                "payment_id": created.payment_id,
                "amount_vnd": request.amount_vnd,
                "status": "pending",
                "pay_url": created.pay_url,
                "via": "gateway",
            }
            await _insert_new(session, Payment, [requested], ["dossier_code"])
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
                    # Over a gateway payment still pending: it was paid at the desk instead.
                    set_={
                        "status": "paid",
                        "via": f"desk:{payment.received_by}",
                        "paid_at": payment.paid_at,
                        "pay_url": None,
                    },
                    where=Payment.status != "paid",
                )
            )

    @activity.defn
    async def issue_document(self, request: IssueDocumentInput) -> IssuedDocument:
        """Issue the dossier's result (or written refusal) once; a retry returns the same one."""
        async with self._sessionmaker.begin() as session:
            document = await self._issue(
                session,
                request.dossier_code,
                0,
                DocumentIssue(request.kind, None, request.note),
                request.issued_at,
            )
            return IssuedDocument(str(document.id), document.name)

"""Queries over dossiers: code allocation, the read model, inboxes and snapshots."""

import uuid
from datetime import date, datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from store.models import (
    Consultation,
    Document,
    Dossier,
    DossierSequence,
    Notification,
    OfficialAlertRow,
    Payment,
    PaymentEvent,
    Rating,
    SlipEntryRow,
    StoredFile,
)


async def next_sequence(session: AsyncSession, agency_code: str, day: date) -> int:
    """The day's next sequence number for the agency. The row stays locked until the caller's
    transaction ends, and a rollback gives the number back: no gaps, no duplicates."""
    seq = await session.scalar(
        insert(DossierSequence)
        .values(agency_code=agency_code, day=day, last_seq=1)
        .on_conflict_do_update(
            index_elements=["agency_code", "day"],
            set_={"last_seq": DossierSequence.last_seq + 1},
        )
        .returning(DossierSequence.last_seq)
    )
    assert seq is not None
    return seq


async def get_dossier(session: AsyncSession, code: str) -> Dossier | None:
    return await session.get(Dossier, code)


async def get_by_idempotency_key(session: AsyncSession, key: str) -> Dossier | None:
    return await session.scalar(select(Dossier).where(Dossier.idempotency_key == key))


async def slip_entries(session: AsyncSession, code: str) -> list[SlipEntryRow]:
    rows = await session.scalars(
        select(SlipEntryRow).where(SlipEntryRow.dossier_code == code).order_by(SlipEntryRow.seq)
    )
    return list(rows)


async def reached_steps(session: AsyncSession, code: str) -> set[str]:
    """The steps the dossier has been at, from its control slip."""
    rows = await session.scalars(
        select(SlipEntryRow.step_key).where(SlipEntryRow.dossier_code == code).distinct()
    )
    return set(rows)


async def open_tasks(
    session: AsyncSession, department: str, role: str, username: str, limit: int, offset: int
) -> list[Dossier]:
    """The steps waiting for an official: their department's and role's, unless handed to
    someone else."""
    rows = await session.scalars(
        select(Dossier)
        .where(
            Dossier.department == department,
            Dossier.role == role,
            Dossier.finished_at.is_(None),
            or_(Dossier.assignee.is_(None), Dossier.assignee == username),
        )
        .order_by(Dossier.step_due_at.asc().nulls_last(), Dossier.code)
        .limit(limit)
        .offset(offset)
    )
    return list(rows)


async def existing_file_ids(session: AsyncSession, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """The files of `ids` still stored, held (FOR SHARE) until the transaction ends: the sweep
    of unattached uploads (store/uploads.py) passes over them while a dossier takes them."""
    rows = await session.scalars(
        select(StoredFile.id).where(StoredFile.id.in_(ids)).with_for_update(read=True)
    )
    return set(rows)


async def get_payment(session: AsyncSession, code: str) -> Payment | None:
    return await session.get(Payment, code)


async def get_decision_document(session: AsyncSession, code: str) -> Document | None:
    return await session.scalar(
        select(Document)
        .where(Document.dossier_code == code, Document.kind.in_(("result", "refusal")))
        .order_by(Document.issued_at.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )


async def documents(session: AsyncSession, code: str) -> list[Document]:
    """The dossier's documents, oldest first, without their PDFs (listing them never needs
    the bytes, which can be tens of kilobytes each)."""
    rows = await session.scalars(
        select(Document)
        .where(Document.dossier_code == code)
        .order_by(Document.issued_at, Document.seq)
        .options(defer(Document.content, raiseload=True))
    )
    return list(rows)


async def get_document(session: AsyncSession, code: str, document_id: uuid.UUID) -> Document | None:
    # Whole, even if the session holds it from a listing (without its PDF).
    return await session.scalar(
        select(Document)
        .where(Document.dossier_code == code, Document.id == document_id)
        .execution_options(populate_existing=True)
    )


async def claim_rendering(
    session: AsyncSession, document_id: uuid.UUID, for_how_long: timedelta
) -> bool:
    """Claim the rendering of a document that has no PDF yet, unless another reader's claim
    still holds; committed at once, for the others to see. False: someone else renders it."""
    claimed = await session.scalar(
        update(Document)
        .where(
            Document.id == document_id,
            Document.content.is_(None),
            or_(Document.rendering_until.is_(None), Document.rendering_until < func.now()),
        )
        .values(rendering_until=func.now() + for_how_long)
        .returning(Document.id)
    )
    await session.commit()
    return claimed is not None


async def store_rendered(
    session: AsyncSession, document_id: uuid.UUID, content: bytes, sha256: str
) -> None:
    await session.execute(
        update(Document)
        .where(Document.id == document_id, Document.content.is_(None))
        .values(content=content, sha256=sha256)
    )


async def set_payment_status(
    session: AsyncSession, payment_id: str, status: str, paid_at: datetime | None = None
) -> None:
    values: dict[str, object] = {"status": status}
    if paid_at is not None:
        values["paid_at"] = paid_at
    if status in ("refund_due", "cancelled"):
        values["pay_url"] = None  # nothing left to pay: no pay link for the applicant
    await session.execute(update(Payment).where(Payment.payment_id == payment_id).values(**values))


async def first_time_event(session: AsyncSession, event_id: str, payment_id: str) -> bool:
    """Record a gateway event; False if it was recorded before (a replay)."""
    inserted = await session.scalar(
        insert(PaymentEvent)
        .values(event_id=event_id, payment_id=payment_id)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(PaymentEvent.event_id)
    )
    return inserted is not None


async def recent_notifications(
    session: AsyncSession, dossier_code: str | None, limit: int
) -> list[Notification]:
    query = select(Notification).order_by(Notification.id.desc()).limit(limit)
    if dossier_code:
        query = query.where(Notification.dossier_code == dossier_code)
    return list(await session.scalars(query))


async def consultations_for(
    session: AsyncSession, department: str, role: str, open_only: bool, limit: int, offset: int
) -> list[Consultation]:
    query = select(Consultation).where(
        Consultation.department == department, Consultation.role == role
    )
    if open_only:
        query = query.where(Consultation.status == "open")
    rows = await session.scalars(
        query.order_by(Consultation.due_at, Consultation.id).limit(limit).offset(offset)
    )
    return list(rows)


async def open_consultations(session: AsyncSession, code: str) -> list[Consultation]:
    """The opinions still awaited on the dossier (its step waits for them)."""
    rows = await session.scalars(
        select(Consultation)
        .where(Consultation.dossier_code == code, Consultation.status == "open")
        .order_by(Consultation.due_at, Consultation.id)
    )
    return list(rows)


async def consulted(session: AsyncSession, code: str) -> set[tuple[str, str]]:
    """The (department, role) pairs asked for an opinion on the dossier."""
    rows = await session.execute(
        select(Consultation.department, Consultation.role)
        .where(Consultation.dossier_code == code)
        .distinct()
    )
    return {(department, role) for department, role in rows}


async def get_consultation(session: AsyncSession, consultation_id: str) -> Consultation | None:
    return await session.get(Consultation, consultation_id)


async def alerts_for(
    session: AsyncSession, department: str, role: str, username: str, limit: int, offset: int
) -> list[OfficialAlertRow]:
    rows = await session.scalars(
        select(OfficialAlertRow)
        .where(
            OfficialAlertRow.department == department,
            OfficialAlertRow.role == role,
            or_(OfficialAlertRow.assignee.is_(None), OfficialAlertRow.assignee == username),
        )
        .order_by(OfficialAlertRow.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows)


async def save_rating(
    session: AsyncSession, code: str, satisfaction: str, comment: str | None
) -> None:
    values = {"satisfaction": satisfaction, "comment": comment, "rated_at": func.now()}
    await session.execute(
        insert(Rating)
        .values(dossier_code=code, **values)
        .on_conflict_do_update(index_elements=["dossier_code"], set_=values)
    )


async def running_dossiers(
    session: AsyncSession,
    department: str | None,
    overdue_at: datetime | None,
    limit: int,
    offset: int,
) -> list[Dossier]:
    """Dossiers still being processed, the most urgent first: those whose appointment passed
    by `overdue_at`, and those a department holds, when asked."""
    query = select(Dossier).where(Dossier.finished_at.is_(None))
    if department:
        query = query.where(Dossier.department == department)
    if overdue_at is not None:
        query = query.where(Dossier.due_at < overdue_at)
    rows = await session.scalars(
        query.order_by(Dossier.due_at, Dossier.code).limit(limit).offset(offset)
    )
    return list(rows)


async def tasks_by_department(session: AsyncSession, now: datetime) -> list[tuple[str, int, int]]:
    """(department, steps waiting, of which past their due time) for running dossiers."""
    overdue = func.count().filter(Dossier.step_due_at < now)
    rows = await session.execute(
        select(Dossier.department, func.count(), overdue)
        .where(Dossier.finished_at.is_(None), Dossier.department.is_not(None))
        .group_by(Dossier.department)
    )
    return [(str(department), int(waiting), int(late)) for department, waiting, late in rows]

"""Submitting a dossier: validate against the pinned procedure, allocate the national code,
record the dossier and start its workflow — all or nothing."""

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import HTTPException, status
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from api.context import AppContext
from api.errors import header_problem, problem, unprocessable
from api.schemas import DocumentRef, DossierCreate
from api.security import lookup_key, new_lookup_salt
from domain.calendar import VN_TZ, CalendarSpec
from domain.catalog import LoadedCatalog, Procedure
from domain.codes import format_dossier_code
from domain.dossier import DeliveryMethod, ProcedureSnapshot, Stage, desk_task
from domain.forms import check_form, cleaned
from motcua.logging import bound_request_id
from store import dossiers as repo
from store.models import Dossier
from workflows import search_attributes as sa
from workflows.dossier import DossierWorkflow
from workflows.messages import DossierInput

log = structlog.get_logger()

_CODE_ATTEMPTS = 3


@dataclass
class Submitted:
    dossier: Dossier
    lookup_key: str
    replayed: bool


def request_hash(body: DossierCreate) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class _Checked:
    snapshot: ProcedureSnapshot
    form: dict[str, Any]  # the declaration form as kept (cleaned)


async def _check_against_procedure(
    session: AsyncSession, catalog: LoadedCatalog, body: DossierCreate
) -> _Checked:
    procedure = catalog.procedures.get(body.procedure_code)
    if procedure is None:
        raise unprocessable(f"unknown procedure_code {body.procedure_code!r}", "procedure_code")
    if body.delivery.method == DeliveryMethod.ONLINE and procedure.level != "full":
        raise unprocessable(
            f"procedure {procedure.code} is partial online: its result is returned at the desk "
            "or by post, not online",
            "delivery",
            "method",
        )
    form = checked_form(procedure, body.form)
    submitted = {d.component for d in body.documents}
    check_components(procedure, submitted, "documents")
    missing = sorted(c.code for c in procedure.components if c.required and c.code not in submitted)
    if missing:
        raise unprocessable(f"required components missing: {missing}", "documents")
    await check_files(session, body.documents)
    return _Checked(catalog.snapshot(procedure.code), form)


def checked_form(procedure: Procedure, values: dict[str, Any]) -> dict[str, Any]:
    """The declaration form as the dossier keeps it (text trimmed, numbers as numbers, dates
    ISO); a 422 naming every field that is missing or wrong, each at ["body", "form", name]."""
    problems = check_form(procedure.form, values)
    if problems:
        raise HTTPException(422, detail=[problem(p.message, "form", p.field) for p in problems])
    return cleaned(procedure.form, values)


def check_components(procedure: Procedure, codes: Iterable[str], field: str) -> None:
    """422 unless every code names a component of the procedure (at submission, in a supplement
    request, in the applicant's supplement)."""
    unknown = sorted(set(codes) - {c.code for c in procedure.components})
    if unknown:
        raise unprocessable(f"components not in procedure {procedure.code}: {unknown}", field)


async def check_files(session: AsyncSession, documents: list[DocumentRef]) -> None:
    """422 unless every document refers to an uploaded file."""
    file_ids = [d.file_id for d in documents]
    absent = set(file_ids) - await repo.existing_file_ids(session, file_ids)
    if absent:
        raise unprocessable(f"unknown file_id: {sorted(str(f) for f in absent)}", "documents")


async def _start_workflow(
    client: Client,
    task_queue: str,
    dossier: Dossier,
    snapshot: ProcedureSnapshot,
    calendar: CalendarSpec,
) -> None:
    await client.start_workflow(
        DossierWorkflow.run,
        DossierInput(
            code=dossier.code,
            procedure=snapshot,
            channel=dossier.channel,
            applicant_kind=dossier.applicant_kind,
            delivery_method=dossier.delivery["method"],
            received_at=dossier.received_at,
            due_at=dossier.due_at,
            calendar=calendar,
            request_id=bound_request_id(),
        ),
        id=dossier.code,
        task_queue=task_queue,
        # What operators see in the Temporal UI's list: the procedure, never the applicant.
        static_summary=f"{snapshot.name} ({snapshot.code})",
        # One workflow per code, ever: a code the engine already knows is refused.
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(sa.DOSSIER_CODE, dossier.code),
                SearchAttributePair(sa.PROCEDURE_CODE, snapshot.code),
                SearchAttributePair(sa.STAGE, "intake"),
                SearchAttributePair(sa.STAGE_SINCE, dossier.received_at),
                SearchAttributePair(sa.DEPARTMENT, snapshot.desk_department),
                SearchAttributePair(sa.STATUS_CODE, 1),
                SearchAttributePair(sa.DUE_AT, dossier.due_at),
            ]
        ),
    )


async def submit_dossier(
    ctx: AppContext, session: AsyncSession, body: DossierCreate, idempotency_key: str | None
) -> Submitted:
    secret = ctx.settings.lookup_key_secret.get_secret_value()
    fingerprint = request_hash(body)
    if idempotency_key:
        earlier = await repo.get_by_idempotency_key(session, idempotency_key)
        if earlier is not None:
            return _replay(earlier, fingerprint, secret)

    checked = await _check_against_procedure(session, ctx.catalog, body)
    snapshot = checked.snapshot
    for _ in range(_CODE_ATTEMPTS):
        received_at = datetime.now(UTC).replace(microsecond=0)
        day = received_at.astimezone(VN_TZ).date()
        seq = await repo.next_sequence(session, snapshot.agency_code, day)
        calendar_spec = ctx.calendar_spec(day.year)
        dossier = _dossier_row(
            format_dossier_code(snapshot.agency_code, day, seq),
            snapshot,
            body,
            checked.form,
            received_at,
            calendar_spec,
            idempotency_key,
            fingerprint,
        )
        session.add(dossier)
        try:
            await session.flush()
        except IntegrityError:
            # The same Idempotency-Key is being submitted concurrently; the other one won.
            await session.rollback()
            assert idempotency_key is not None
            earlier = await repo.get_by_idempotency_key(session, idempotency_key)
            if earlier is None:
                raise
            return _replay(earlier, fingerprint, secret)
        try:
            await _start_workflow(
                ctx.temporal, ctx.settings.temporal_task_queue, dossier, snapshot, calendar_spec
            )
        except WorkflowAlreadyStartedError:
            # The engine knows this code although the database just handed it out: the
            # database was reset or restored, or a commit failed after a start. That workflow
            # is never touched; the number is given up (a logged gap) and the next one taken.
            await session.rollback()
            await repo.next_sequence(session, snapshot.agency_code, day)
            await session.commit()
            log.error("dossier code already used by a workflow: skipped", dossier_code=dossier.code)
            continue
        except RPCError as exc:
            await session.rollback()
            log.error("workflow start failed", error=str(exc))
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                detail="the processing engine is unavailable; the dossier was not submitted, retry",
            ) from exc
        await session.commit()
        log.info("dossier submitted", dossier_code=dossier.code, procedure=snapshot.code)
        return Submitted(dossier, lookup_key(dossier.code, dossier.lookup_salt, secret), False)
    raise HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        detail="no free dossier code: the database and the engine disagree, operators must look",
    )


def _dossier_row(
    code: str,
    snapshot: ProcedureSnapshot,
    body: DossierCreate,
    form: dict[str, Any],
    received_at: datetime,
    calendar_spec: CalendarSpec,
    idempotency_key: str | None,
    fingerprint: str,
) -> Dossier:
    calendar = calendar_spec.calendar()
    # The desk holds it from the start; the workflow records the same task.
    intake = desk_task(
        snapshot,
        Stage.INTAKE,
        received_at,
        calendar.add_working_hours(received_at, snapshot.intake_hours),
    )
    return Dossier(
        code=code,
        agency_code=snapshot.agency_code,
        procedure_code=snapshot.code,
        catalog_version=snapshot.catalog_version,
        channel=str(body.channel),
        applicant_kind=body.applicant.kind,
        applicant=body.applicant.model_dump(mode="json"),
        form=form,
        documents=[d.model_dump(mode="json") for d in body.documents],
        delivery=body.delivery.model_dump(mode="json"),
        fee_vnd=snapshot.fee_vnd,
        lookup_salt=new_lookup_salt(),
        idempotency_key=idempotency_key,
        request_hash=fingerprint,
        received_at=received_at,
        due_at=calendar.add_working_days(received_at, snapshot.processing_days),
        status_code=1,
        stage="intake",
        outcome="pending",
        step_key=intake.step_key,
        step_name=intake.step_name,
        department=intake.department,
        role=intake.role,
        step_started_at=intake.started_at,
        step_due_at=intake.due_at,
        last_seq=0,
    )


def _replay(earlier: Dossier, fingerprint: str, secret: str) -> Submitted:
    if earlier.request_hash != fingerprint:
        raise HTTPException(
            422,
            detail=[header_problem("Idempotency-Key was already used for a different submission")],
        )
    key = lookup_key(earlier.code, earlier.lookup_salt, secret)
    return Submitted(earlier, key, replayed=True)

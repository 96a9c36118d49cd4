"""The activities, run by `ActivityEnvironment` against the real database: a retry or a replay
writes, charges and issues nothing twice."""

import dataclasses
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.dossier_activities import (
    DossierActivities,
    IssueDocumentInput,
    PaymentRequestInput,
    TransitionRecord,
)
from activities.payment_gateway import SandboxGateway
from domain.catalog import load_catalog
from domain.dossier import SlipEntry, Task
from motcua.settings import Settings
from store.db import Sessionmaker
from store.dossiers import recent_notifications
from store.models import Document, Dossier, SandboxGatewayPayment, SlipEntryRow
from tests.conftest import insert_dossier

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.fixture
async def dossier_code(settings: Settings, sessionmaker: Sessionmaker) -> str:
    snapshot = load_catalog(settings.catalog_path).snapshot("1.001612")
    return await insert_dossier(sessionmaker, snapshot, NOW, NOW)


@pytest.fixture
def activities(sessionmaker: Sessionmaker) -> DossierActivities:
    gateway = SandboxGateway(sessionmaker, "http://gateway.test")
    return DossierActivities(sessionmaker, gateway, b"test-document-key")


def _record(code: str, seq: int, stage: str, entries: list[SlipEntry]) -> TransitionRecord:
    task = Task("tham_dinh", "Thẩm định", "KT", "specialist", NOW, NOW)
    return TransitionRecord(code, seq, 4, stage, "pending", task, NOW, None, entries)


async def test_record_transition_is_idempotent_and_ordered(
    activities: DossierActivities, sessionmaker: Sessionmaker, dossier_code: str
) -> None:
    env = ActivityEnvironment()
    entry = SlipEntry(1, "intake", "BPMC", "system", "submitted", NOW)
    newer = _record(dossier_code, 2, "review", [entry])
    await env.run(activities.record_transition, newer)
    await env.run(activities.record_transition, newer)  # a retry
    await env.run(activities.record_transition, _record(dossier_code, 1, "intake", []))  # late
    async with sessionmaker() as session:
        row = await session.get_one(Dossier, dossier_code)
        entries = await session.scalar(
            select(func.count()).where(SlipEntryRow.dossier_code == dossier_code)
        )
    assert (row.stage, row.last_seq, row.department) == ("review", 2, "KT")
    assert entries == 1
    async with sessionmaker() as session:
        notified = await recent_notifications(session, dossier_code, 10)
    assert sorted(n.channel for n in notified) == ["email", "sms"]  # status 1 → 4, once


async def test_payment_is_requested_once(
    activities: DossierActivities, sessionmaker: Sessionmaker, dossier_code: str
) -> None:
    env = ActivityEnvironment()
    request = PaymentRequestInput(dossier_code, 100000)
    first = await env.run(activities.request_payment, request)
    again = await env.run(activities.request_payment, request)
    assert first == again
    assert first.pay_url == f"http://gateway.test/sandbox/pay/{first.payment_id}"
    async with sessionmaker() as session:
        at_gateway = await session.scalar(
            select(func.count()).where(SandboxGatewayPayment.merchant_ref == dossier_code)
        )
    assert at_gateway == 1


async def test_result_is_issued_once(
    activities: DossierActivities, dossier_code: str, sessionmaker: Sessionmaker
) -> None:
    env = ActivityEnvironment()
    request = IssueDocumentInput(dossier_code, "result", None, NOW)
    first = await env.run(activities.issue_document, request)
    again = await env.run(activities.issue_document, request)
    assert first == again
    async with sessionmaker() as session:
        document = await session.get_one(Document, uuid.UUID(first.document_id))
    assert document.context is not None and document.context["dossier_code"] == dossier_code


async def test_a_record_of_a_dossier_never_committed_fails_in_the_end(
    activities: DossierActivities,
) -> None:
    """The workflow may start a moment before the API commits the dossier's row: early
    attempts are retried; a row still missing after many means the submission never
    committed, and the workflow fails instead of retrying forever."""
    env = ActivityEnvironment()
    record = _record("000.00.15.H39-991231-999999", 1, "intake", [])
    with pytest.raises(ApplicationError) as early:
        await env.run(activities.record_transition, record)
    assert not early.value.non_retryable
    env.info = dataclasses.replace(env.info, attempt=20)
    with pytest.raises(ApplicationError) as late:
        await env.run(activities.record_transition, record)
    assert late.value.non_retryable

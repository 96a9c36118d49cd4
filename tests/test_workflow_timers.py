"""The workflow on the time-skipping test server: days pass in milliseconds, the activities
are the real ones against the real database."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.dossier_activities import DossierActivities
from activities.payment_gateway import SandboxGateway
from domain.calendar import CalendarSpec
from domain.catalog import LoadedCatalog, load_catalog
from domain.dossier import Actor
from motcua import embedded
from motcua.cli import search_attribute_types
from motcua.settings import Settings
from store.db import Sessionmaker
from store.models import Dossier, SlipEntryRow
from tests.conftest import insert_dossier
from workflows.dossier import DossierWorkflow
from workflows.messages import ActionRequest, DossierInput

BIRTH = "1.001193"  # no fee, online result; two steps: TPHT specialist (4 h), LD leader (2 h)


@pytest.fixture(scope="module")
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=embedded.venv_binary("temporal-test-server")
    )
    # The test server cannot list search attributes, only add them.
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(namespace="default", search_attributes=search_attribute_types())
    )
    yield env
    await env.shutdown()


@pytest.fixture
def catalog(settings: Settings) -> LoadedCatalog:
    return load_catalog(settings.catalog_path)


async def _new_dossier(sessionmaker: Sessionmaker, catalog: LoadedCatalog) -> DossierInput:
    """A dossier row as the API writes it, and the workflow input that goes with it."""
    snapshot = catalog.snapshot(BIRTH)
    # A Monday morning, so the working hours are easy to count.
    received_at = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 08:00 in Vietnam
    calendar = CalendarSpec.for_period(2026)
    due_at = calendar.calendar().add_working_days(received_at, snapshot.processing_days)
    code = await insert_dossier(sessionmaker, snapshot, received_at, due_at)
    return DossierInput(
        code, snapshot, "online", "individual", "online", received_at, due_at, calendar
    )


async def test_a_step_past_its_due_time_is_marked_late(
    time_skipping: WorkflowEnvironment, sessionmaker: Sessionmaker, catalog: LoadedCatalog
) -> None:
    task_queue = f"timers-{uuid.uuid4().hex[:8]}"
    activities = DossierActivities(sessionmaker, SandboxGateway(sessionmaker, "http://sandbox"))
    input = await _new_dossier(sessionmaker, catalog)
    async with Worker(
        time_skipping.client,
        task_queue=task_queue,
        workflows=[DossierWorkflow],
        activities=[activities.record_transition, activities.issue_document],
    ):
        handle = await time_skipping.client.start_workflow(
            DossierWorkflow.run, input, id=input.code, task_queue=task_queue
        )
        desk = Actor("desk", "BPMC", "desk_officer")
        await handle.execute_update(DossierWorkflow.act, ActionRequest("accept", desk))
        state = await handle.query(DossierWorkflow.state)
        assert state.current_task is not None and state.current_task.step_key == "hotich"
        assert state.current_task.due_at is not None

        # Three days pass with nobody acting on the 4-hour civil-status step.
        await time_skipping.sleep(timedelta(days=3))
        state = await handle.query(DossierWorkflow.state)
        assert state.history[-1].action == "step_overdue"

        specialist = Actor("tp", "TPHT", "specialist")
        await handle.execute_update(DossierWorkflow.act, ActionRequest("approve", specialist))
        leader = Actor("ld", "LD", "leader")
        await handle.execute_update(DossierWorkflow.act, ActionRequest("approve", leader))
        outcome = await handle.result()
        state = await handle.query(DossierWorkflow.state)

    assert (outcome.status_code, outcome.outcome) == (10, "approved")
    timeliness = {e.step_key: e.timeliness for e in state.history if e.action == "approve"}
    assert timeliness["hotich"] == "late"
    async with sessionmaker() as session:
        row = await session.get_one(Dossier, input.code)
        assert (row.status_code, row.stage, row.finished_at is not None) == (10, "done", True)
        overdue = await session.get(SlipEntryRow, (input.code, state.history[-1].seq))
        assert overdue is not None

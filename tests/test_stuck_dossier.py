"""A dossier whose workflow task keeps failing, found and brought back as the README tells
operators ("A dossier whose workflow task keeps failing"): the 503s, the server's flag, the
worker's metric and alert line, then a reset to the first workflow task and what to check."""

import asyncio
import logging
import subprocess

import httpx
import pytest
from structlog.stdlib import ProcessorFormatter as Rendered
from temporalio.common import SearchAttributeKey

from motcua import embedded
from motcua.temporal import CORE_LOGGER, connect_temporal, worker_runtime
from store.models import Dossier
from tests.client import DESK, ApiClient
from tests.conftest import Stack, free_port
from tests.replaying import check_replays
from tests.withdrawn_build import WithdrawnBuildDossierWorkflow
from workflows.consultation import ConsultationWorkflow
from workflows.service_index_snapshot import ServiceIndexSnapshotWorkflow

HKD = "1.001612"  # household business: KT specialist, KT head, LD leader
REPORTED_PROBLEMS = SearchAttributeKey.for_keyword_list("TemporalReportedProblems")


async def test_a_stuck_dossier_is_found_and_brought_back(
    stack: Stack, http: httpx.AsyncClient, demo_password: str, caplog: pytest.LogCaptureFixture
) -> None:
    api = ApiClient(http, demo_password)
    temporal = stack.client
    await stack.stop_worker()
    try:
        async with stack.other_worker(
            workflows=[
                WithdrawnBuildDossierWorkflow,
                ConsultationWorkflow,
                ServiceIndexSnapshotWorkflow,
            ]
        ):
            created = await api.submit(HKD)
            code, key = created["code"], created["lookup_key"]
            assert (await api.act(code, DESK, "accept")).status_code == 200
        stuck_run = (await temporal.get_workflow_handle(code).describe()).run_id

        # The released worker (as worker.py runs it: core logs forwarded, metrics served).
        metrics = f"127.0.0.1:{free_port()}"
        caplog.set_level(logging.WARNING, logger=CORE_LOGGER)
        released = await connect_temporal(stack.settings, worker_runtime(metrics))
        async with stack.other_worker(released):
            r = await api.act(code, "kt.specialist", "approve")
            assert r.status_code == 503 and r.headers["Retry-After"] == "5", r.text
            state = (
                await api.http.get(f"/api/v1/dossiers/{code}", headers={"X-Lookup-Key": key})
            ).json()
            assert (state["source"], state["current_step"]["key"]) == ("snapshot", "tham_dinh")

            # Found: the server's flag, the worker's metric, the alert line.
            problems = await _reported_problems(stack, code)
            assert "cause=WorkflowTaskFailedCauseNonDeterministicError" in problems
            async with httpx.AsyncClient() as scraper:
                scraped = (await scraper.get(f"http://{metrics}/metrics")).text
            assert 'failure_reason="NonDeterminismError"' in scraped
            [alert, *_] = [
                r
                for r in caplog.records
                if r.name == CORE_LOGGER and r.msg == "Failing workflow task"
            ]
            [ours] = [h for h in logging.getLogger().handlers if isinstance(h.formatter, Rendered)]
            line = ours.format(alert)
            for expected in ("workflow task failing", "workflow_task_failing", "nondeterminism"):
                assert expected in line
            assert stuck_run in line and "withdrawn-build" in line

            # Brought back: reset to its first workflow task, as the README says.
            address = stack.settings.require_temporal_address()
            reset = await asyncio.to_thread(
                subprocess.run,
                [embedded.venv_binary("temporal"), "workflow", "reset", "--address", address,
                 "-w", code, "--type", "FirstWorkflowTask", "--reason", "test: stuck dossier"],
                capture_output=True, text=True,
            )  # fmt: skip
            assert reset.returncode == 0, reset.stderr

            # Then checked: it answers (not from a snapshot), the acceptance was applied again,
            # and it moves on.
            state = await api.wait_for(code, key, "review")
            assert state["source"] in ("recorded", "live")
            assert state["current_step"]["key"] == "tham_dinh"
            assert [e["action"] for e in state["history"]].count("accept") == 1
            assert (await api.act(code, "kt.specialist", "approve")).status_code == 200
            assert await _reported_problems(stack, code, cleared=True) == []
        async with stack.sessionmaker() as session:
            row = await session.get_one(Dossier, code)
            assert (row.step_key, row.status_code) == ("truong_phong", 4)
    finally:
        stack.start_worker()
    await check_replays(temporal, code, "reset-after-stuck")


async def _reported_problems(stack: Stack, code: str, cleared: bool = False) -> list[str]:
    """The server's `TemporalReportedProblems` of the dossier's current run, once set (or
    once cleared)."""
    handle = stack.client.get_workflow_handle(code)
    async with asyncio.timeout(30):
        while True:
            described = await handle.describe()
            problems = list(described.typed_search_attributes.get(REPORTED_PROBLEMS) or [])
            if bool(problems) != cleared:
                return problems
            await asyncio.sleep(0.5)

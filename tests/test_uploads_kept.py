"""Anonymous uploads are limited per client, and the ones no dossier took are deleted after a
day (their rows and their bytes) by an hourly Temporal Schedule; the desk's are not limited."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
from sqlalchemy import func, select, text
from temporalio.client import ScheduleActionExecutionStartWorkflow, ScheduleIntervalSpec
from temporalio.testing import ActivityEnvironment

from activities.upload_activities import UploadActivities, UploadSweepResult
from api.main import create_app
from motcua.schedules import SNAPSHOT_SCHEDULE_ID, UPLOAD_SWEEP_SCHEDULE_ID, ensure_schedules
from motcua.settings import Settings
from store import dossiers as repo
from store.db import Sessionmaker
from store.models import RefusalCount, StoredFile
from tests.client import DESK, ApiClient
from tests.conftest import Stack
from tests.dossier_pages import COPY, PDF, field_error, open_form


@asynccontextmanager
async def _api(settings: Settings, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """An API process of its own allowing 3 uploads an hour, seen from `address`."""
    app = create_app(settings.model_copy(update={"uploads_per_hour": 3}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


async def _upload(client: httpx.AsyncClient, **headers: str) -> httpx.Response:
    files = {"file": ("a.pdf", PDF, "application/pdf")}
    return await client.post("/api/v1/files", files=files, headers=headers)


async def test_anonymous_uploads_are_limited_per_client(
    settings: Settings, stack: Stack, api: ApiClient, sessionmaker: Sessionmaker
) -> None:
    desk = await api.as_official(DESK)
    async with _api(settings, "10.8.0.1") as flooder, _api(settings, "10.8.0.2") as other:
        for _ in range(3):
            assert (await _upload(flooder)).status_code == 201
        r = await _upload(flooder)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) == 3600
        assert (await _upload(flooder)).status_code == 429
        assert (await _upload(other)).status_code == 201  # another client: its own count
        assert (await _upload(flooder, **desk)).status_code == 201  # the desk: not counted
        # On the pages the file is refused in place, saying why.
        base = f"/thu-tuc/{COPY}/nop-ho-so"
        files = {"file-BC": ("ban-chinh.pdf", PDF, "application/pdf")}
        r = await flooder.post(base, data=await open_form(flooder, base), files=files)
        assert r.status_code == 422
        assert "gửi quá nhiều tệp trong một giờ" in field_error(r.text, "file-BC")
    async with sessionmaker() as session:
        refused = await session.scalar(
            select(func.sum(RefusalCount.count)).where(
                RefusalCount.client == "10.8.0.1", RefusalCount.kind == "upload:429"
            )
        )
    assert refused == 3  # counted, not chained


async def _backdate(sessionmaker: Sessionmaker, *file_ids: str) -> None:
    async with sessionmaker.begin() as session:
        await session.execute(
            text("UPDATE files SET created_at = now() - interval '25 hours' WHERE id = ANY(:ids)"),
            {"ids": [uuid.UUID(f) for f in file_ids]},
        )


async def _stored(sessionmaker: Sessionmaker, settings: Settings, file_id: str) -> bool:
    """Its row, and its bytes (both or neither)."""
    async with sessionmaker() as session:
        row = await session.get(StoredFile, uuid.UUID(file_id))
    on_disk = (settings.files_dir / uuid.UUID(file_id).hex).exists()
    assert (row is not None) == on_disk
    return on_disk


async def test_uploads_no_dossier_took_are_deleted_after_a_day(
    settings: Settings, stack: Stack, api: ApiClient, sessionmaker: Sessionmaker
) -> None:
    body = await api.submission("1.001612")
    attached = body["documents"][0]["file_id"]
    assert (await api.http.post("/api/v1/dossiers", json=body)).status_code == 201
    forgotten, taken_now, fresh = await api.upload(), await api.upload(), await api.upload()
    await _backdate(sessionmaker, attached, forgotten, taken_now)
    sweep = UploadActivities(sessionmaker, settings.files_dir)
    env = ActivityEnvironment()
    # A submission taking `taken_now` holds it while its dossier is being written: passed over.
    async with sessionmaker.begin() as submitting:
        assert await repo.existing_file_ids(submitting, [uuid.UUID(taken_now)])
        result = await env.run(sweep.delete_unattached_uploads)
    assert result.deleted >= 1
    assert not await _stored(sessionmaker, settings, forgotten)
    for kept in (attached, taken_now, fresh):
        assert await _stored(sessionmaker, settings, kept)
    # Its submission given up, `taken_now` goes at the next run; then nothing is left to do.
    assert (await env.run(sweep.delete_unattached_uploads)).deleted >= 1
    assert not await _stored(sessionmaker, settings, taken_now)
    assert await env.run(sweep.delete_unattached_uploads) == UploadSweepResult(0)
    # A dossier naming a deleted file is refused, not half written.
    body["documents"][0]["file_id"] = forgotten
    r = await api.http.post("/api/v1/dossiers", json=body)
    assert r.status_code == 422 and "unknown file_id" in r.text


async def test_the_worker_sweeps_every_hour(
    stack: Stack, api: ApiClient, sessionmaker: Sessionmaker
) -> None:
    """The schedule the worker creates at start, triggered now, runs the sweep."""
    forgotten = await api.upload()
    await _backdate(sessionmaker, forgotten)
    await ensure_schedules(stack.client, stack.settings.temporal_task_queue)
    schedule = stack.client.get_schedule_handle(UPLOAD_SWEEP_SCHEDULE_ID)
    try:
        described = await schedule.describe()
        [interval] = described.schedule.spec.intervals
        assert interval == ScheduleIntervalSpec(every=timedelta(hours=1))
        await schedule.trigger()
        for _ in range(100):
            actions = (await schedule.describe()).info.recent_actions
            if actions:
                break
            await asyncio.sleep(0.1)
        started = actions[-1].action
        assert isinstance(started, ScheduleActionExecutionStartWorkflow)
        handle = stack.client.get_workflow_handle(
            started.workflow_id, result_type=UploadSweepResult
        )
        assert (await handle.result()).deleted >= 1
        assert not await _stored(sessionmaker, stack.settings, forgotten)
    finally:
        await schedule.delete()
        # No nightly snapshot in the middle of later tests either.
        await stack.client.get_schedule_handle(SNAPSHOT_SCHEDULE_ID).delete()

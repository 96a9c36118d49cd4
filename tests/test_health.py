"""/healthz: the process is alive; /readyz: it can serve, or names what does not answer."""

import json

import httpx
from temporalio.testing import WorkflowEnvironment

from api.context import AppContext
from api.routes.health import readyz
from domain.catalog import load_catalog
from motcua.settings import Settings
from store.db import create_engine, create_sessionmaker


async def test_healthy(http: httpx.AsyncClient) -> None:
    r = await http.get("/healthz")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})
    r = await http.get("/readyz")
    assert (r.status_code, r.json()) == (200, {"status": "ready"})


async def test_a_database_that_does_not_answer_is_named(
    settings: Settings, temporal_env: WorkflowEnvironment
) -> None:
    engine = create_engine("postgresql://nobody@127.0.0.1:9/nowhere", pool_size=1)
    async with httpx.AsyncClient() as client:
        ctx = AppContext(
            settings,
            engine,
            create_sessionmaker(engine),
            temporal_env.client,
            load_catalog(settings.catalog_path),
            client,
        )
        response = await readyz(ctx)
    await engine.dispose()
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert list(json.loads(bytes(response.body))["failed"]) == ["database"]

"""The API's /metrics: only for the scraper's METRICS_TOKEN and operators, and its counts of
open and overdue tasks redone at most once per METRICS_REFRESH_SECONDS, however often it is
scraped."""

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import event

from api.main import create_app
from motcua.settings import Settings
from tests.client import DESK, ApiClient
from tests.conftest import Stack
from tests.test_operators import _value

METRICS_TOKEN = "scraper-token-0123456789"


@asynccontextmanager
async def _api(
    settings: Settings, **changes: Any
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An API process of its own, configured with `changes`."""
    app = create_app(settings.model_copy(update=changes))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield app, client


async def test_metrics_are_for_the_scraper_and_operators(
    settings: Settings, stack: Stack, api: ApiClient
) -> None:
    desk, operator = await api.as_official(DESK), await api.as_official("ops.operator")
    async with _api(settings, metrics_token=SecretStr(METRICS_TOKEN)) as (_, client):
        anonymous = await client.get("/metrics")
        assert anonymous.status_code == 401
        assert anonymous.headers["WWW-Authenticate"] == "Bearer"
        assert "METRICS_TOKEN" in anonymous.json()["detail"]
        wrong = {"Authorization": "Bearer not-the-token"}
        assert (await client.get("/metrics", headers=wrong)).status_code == 401
        assert (await client.get("/metrics", headers=desk)).status_code == 403
        for allowed in ({"Authorization": f"Bearer {METRICS_TOKEN}"}, operator):
            r = await client.get("/metrics", headers=allowed)
            assert r.status_code == 200, r.text
            assert "motcua_http_requests_total" in r.text
    async with _api(settings) as (_, client):  # no METRICS_TOKEN: operators only
        scraper = {"Authorization": f"Bearer {METRICS_TOKEN}"}
        assert (await client.get("/metrics", headers=scraper)).status_code == 401
        assert (await client.get("/metrics", headers=operator)).status_code == 200


async def test_scrapes_count_the_tasks_once_per_refresh(
    settings: Settings, stack: Stack, api: ApiClient
) -> None:
    refresh = 2.0
    scraper = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    async with _api(
        settings, metrics_token=SecretStr(METRICS_TOKEN), metrics_refresh_seconds=refresh
    ) as (
        app,
        client,
    ):
        statements: list[str] = []

        def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements.append(statement)

        event.listen(app.state.ctx.engine.sync_engine, "before_cursor_execute", count)
        first = await client.get("/metrics", headers=scraper)
        counted_at = time.monotonic()
        assert first.status_code == 200 and statements
        statements.clear()
        for _ in range(5):
            assert (await client.get("/metrics", headers=scraper)).status_code == 200
        assert statements == []  # within the refresh: the same counts, no query
        # A new step waiting in the economic office shows at the first scrape after it.
        code = (await api.submit("1.001612"))["code"]
        await api.act(code, DESK, "accept")
        await asyncio.sleep(max(0.0, counted_at + refresh - time.monotonic()))
        later = await client.get("/metrics", headers=scraper)
        assert statements
        kt = {"department": "KT"}
        grown = _value(later.text, "motcua_open_tasks", **kt) - _value(
            first.text, "motcua_open_tasks", **kt
        )
        assert grown >= 1

"""PostgreSQL stops taking connections under a running API: every request that needs it is a
503 with Retry-After (a page in Vietnamese), never a 500; what needs no database still
answers; and once it is back, so is the API, without a restart."""

import asyncio
import re
import uuid
from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from api.main import create_app
from motcua.cli import DEMO_PASSWORD, prepare_database
from motcua.settings import Settings
from tests.conftest import database_outage, free_port, serving


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[tuple[str, str]]:
    """A database of its own on the session's server (the session's stays up): its name and
    URL."""
    name = f"motcua_outage_{uuid.uuid4().hex[:8]}"
    admin = settings.require_database_url()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield name, make_url(admin).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
async def api_url(settings: Settings, database: tuple[str, str]) -> AsyncIterator[str]:
    """An API process of its own on that database, under uvicorn."""
    port = free_port()
    own = settings.model_copy(update={"database_url": database[1], "api_port": port})
    await prepare_database(own, seed_demo=True)
    async with serving(create_app(own), port):
        yield f"http://127.0.0.1:{port}"


async def test_a_database_outage_is_a_503_with_retry_after(
    settings: Settings, database: tuple[str, str], api_url: str
) -> None:
    login = {"username": "kt.specialist", "password": DEMO_PASSWORD}
    code = "000.00.15.H39-261202-0001"
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        assert (await client.post("/api/v1/auth/token", data=login)).status_code == 200
        form = await client.get("/tra-cuu")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None

        await asyncio.to_thread(database_outage, settings, database[0], True)
        answers = [
            await client.post("/api/v1/auth/token", data=login),
            await client.get(f"/api/v1/dossiers/{code}", headers={"X-Lookup-Key": "A" * 16}),
            await client.post("/api/v1/files", files={"file": ("a.pdf", b"%PDF-1.4 x")}),
        ]
        for r in answers:
            assert r.status_code == 503, (r.request.url, r.status_code, r.text)
            assert r.headers["retry-after"] == "5"
            assert "database is unavailable" in r.json()["detail"]
        page = await client.post(
            "/tra-cuu", data={"csrf_token": token[1], "code": code, "key": "x"}
        )
        assert page.status_code == 503 and page.headers["retry-after"] == "5"
        assert "Hệ thống đang tạm gián đoạn" in page.text
        # What needs no database still answers; the process is alive, and not ready.
        assert (await client.get("/api/v1/procedures")).status_code == 200
        assert (await client.get("/healthz")).status_code == 200
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and list(ready.json()["failed"]) == ["database"]

        await asyncio.to_thread(database_outage, settings, database[0], False)
        r = await client.post("/api/v1/auth/token", data=login)
        assert r.status_code == 200, r.text
        assert (await client.get("/readyz")).status_code == 200

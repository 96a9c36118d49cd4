"""A token dies with its official's state: deactivated, moved to another department or role,
or saved again with a new password, their bearer token, the pages' session and the codec
cookie are refused within TOKEN_CHECK_SECONDS, in the JSON API and the pages alike."""

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy import select

from api.main import create_app
from api.security import hash_password
from motcua.cli import _deactivate_official, _move_official
from motcua.settings import Settings
from store.db import Sessionmaker
from store.models import AuditRow, Official
from store.officials import deactivate_official, move_official, upsert_official

PASSWORD = "a-password-of-their-own"
CHECK_SECONDS = 1.0


@asynccontextmanager
async def _client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An API process of its own that trusts an official's state for CHECK_SECONDS."""
    app = create_app(settings.model_copy(update={"token_check_seconds": CHECK_SECONDS}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("10.0.7.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


async def _save(
    sessionmaker: Sessionmaker, username: str, department: str, role: str, password: str = PASSWORD
) -> None:
    async with sessionmaker.begin() as session:
        await upsert_official(session, username, hash_password(password), department, role)


async def _bearer(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    r = await client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _page_session(client: httpx.AsyncClient, username: str) -> None:
    """Logged in to the back office, as a browser posts the form."""
    assert (await client.get("/can-bo/dang-nhap")).status_code == 200
    form = {"csrf_token": client.cookies["motcua_csrf"], "username": username}
    r = await client.post("/can-bo/dang-nhap", data={**form, "password": PASSWORD})
    assert r.status_code == 303, r.text


async def _refused_in_time(refused: Callable[[], Awaitable[bool]]) -> None:
    """`refused` comes true within the bound (and a little for the test's own requests)."""
    deadline = time.monotonic() + CHECK_SECONDS + 1
    while not await refused():
        assert time.monotonic() < deadline, "still accepted past TOKEN_CHECK_SECONDS"


async def test_a_deactivated_officials_token_and_session_are_refused(
    settings: Settings, sessionmaker: Sessionmaker
) -> None:
    await _save(sessionmaker, "kt.leaving", "KT", "specialist")
    async with _client(settings) as api, _client(settings) as browser:
        bearer = await _bearer(api, "kt.leaving")
        await _page_session(browser, "kt.leaving")
        assert (await api.get("/api/v1/tasks", headers=bearer)).status_code == 200
        assert (await browser.get("/can-bo")).status_code == 200

        async with sessionmaker.begin() as session:
            assert await deactivate_official(session, "kt.leaving")

        async def api_refuses() -> bool:
            return (await api.get("/api/v1/tasks", headers=bearer)).status_code == 401

        async def pages_refuse() -> bool:
            r = await browser.get("/can-bo")
            return r.status_code == 303 and r.headers["location"].startswith("/can-bo/dang-nhap")

        await _refused_in_time(api_refuses)
        await _refused_in_time(pages_refuse)
        r = await api.post(
            "/api/v1/auth/token", data={"username": "kt.leaving", "password": PASSWORD}
        )
        assert r.status_code == 401


async def test_a_moved_officials_token_is_refused(
    settings: Settings, sessionmaker: Sessionmaker
) -> None:
    await _save(sessionmaker, "kt.moving", "KT", "specialist")
    async with _client(settings) as api:
        bearer = await _bearer(api, "kt.moving")
        assert (await api.get("/api/v1/tasks", headers=bearer)).status_code == 200
        async with sessionmaker.begin() as session:
            assert await move_official(session, "kt.moving", "TPHT", "specialist")

        async def refused() -> bool:
            return (await api.get("/api/v1/tasks", headers=bearer)).status_code == 401

        await _refused_in_time(refused)
        r = await api.post(
            "/api/v1/auth/token", data={"username": "kt.moving", "password": PASSWORD}
        )
        assert r.status_code == 200 and r.json()["department"] == "TPHT"


async def test_a_new_password_ends_the_operators_codec_cookie(
    settings: Settings, sessionmaker: Sessionmaker
) -> None:
    await _save(sessionmaker, "ops.rotating", "OPS", "operator")
    async with _client(settings) as browser:
        r = await browser.post(
            "/api/v1/auth/token?codec_cookie=true",
            data={"username": "ops.rotating", "password": PASSWORD},
        )
        assert r.status_code == 200 and browser.cookies.get("motcua_codec", path="/codec")

        async def decode() -> int:
            return (await browser.post("/codec/decode", json={"payloads": []})).status_code

        assert await decode() == 200
        await _save(sessionmaker, "ops.rotating", "OPS", "operator", password="a-new-one")

        async def refused() -> bool:
            return await decode() == 401

        await _refused_in_time(refused)


async def test_the_cli_moves_and_deactivates_officials(
    settings: Settings, sessionmaker: Sessionmaker
) -> None:
    await _save(sessionmaker, "kt.by_cli", "KT", "specialist")
    await _move_official(settings, "kt.by_cli", "TPHT", "head")
    with pytest.raises(RuntimeError, match="unknown department"):
        await _move_official(settings, "kt.by_cli", "NOWHERE", "head")
    with pytest.raises(RuntimeError, match="no official"):
        await _deactivate_official(settings, "nobody.by_cli")
    await _deactivate_official(settings, "kt.by_cli")
    async with sessionmaker() as session:
        official = await session.get(Official, "kt.by_cli")
        assert official is not None
        assert (official.department, official.role, official.active) == ("TPHT", "head", False)
        assert official.token_version == 2
        done = await session.scalars(
            select(AuditRow.action).where(AuditRow.actor.startswith("cli:")).order_by(AuditRow.id)
        )
        assert list(done)[-2:] == ["official_moved", "official_deactivated"]

"""Guessing is throttled, across API processes (the counts live in PostgreSQL) and atomically:
failed logins per name and client, with delays that grow, never against the official logging
in from their own client; failed logins per client across names; failed dossier lookups per
client. Passwords are checked off the event loop, an unknown name as dearly as a known one."""

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

import api.security
from api.main import create_app
from motcua.settings import Settings
from store.db import Sessionmaker
from store.models import Official
from tests.conftest import free_port, serving

TOKEN = "/api/v1/auth/token"


@asynccontextmanager
async def _app(settings: Settings, **limits: Any) -> AsyncIterator[FastAPI]:
    """An API process of its own, with low limits."""
    strict = settings.model_copy(
        update={"login_failures_allowed": 3, "lookup_failures_allowed": 3, **limits}
    )
    app = create_app(strict)
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def _seen_from(app: FastAPI, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


@asynccontextmanager
async def _api(settings: Settings, address: str) -> AsyncIterator[httpx.AsyncClient]:
    async with _app(settings) as app, _seen_from(app, address) as client:
        yield client


class Checks:
    """The password verifications made (the hash each was against, and in which thread)."""

    def __init__(self) -> None:
        self.made: list[tuple[str, threading.Thread]] = []

    def against(self, password_hash: str) -> int:
        return sum(1 for checked, _ in self.made if checked == password_hash)


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[Checks]:
    """Every verification of a password, recorded, then made as usual."""
    seen = Checks()
    verify = api.security.verify_password

    def recorded(password_hash: str, password: str) -> bool:
        seen.made.append((password_hash, threading.current_thread()))
        return verify(password_hash, password)

    monkeypatch.setattr(api.security, "verify_password", recorded)
    yield seen


async def _password_hash(sessionmaker: Sessionmaker, username: str) -> str:
    async with sessionmaker() as session:
        found = await session.scalar(
            select(Official.password_hash).where(Official.username == username)
        )
    assert found is not None
    return found


def _login(username: str, password: str) -> dict[str, str]:
    return {"username": username, "password": password}


async def test_a_burst_of_guesses_gets_only_the_tries_allowed(
    settings: Settings, sessionmaker: Sessionmaker, demo_password: str, checks: Checks
) -> None:
    """200 wrong passwords at once for one name from one client: 3 are checked (the free
    failures; the next waits a minute), the rest answered 429 unchecked. Meanwhile and after,
    the official logs in from their own client; the guesser's client waits, even with the
    right password."""
    head_hash = await _password_hash(sessionmaker, "tpht.head")
    async with (
        _app(settings, login_delay_seconds=60) as app,
        _seen_from(app, "10.0.1.1") as guesser,
        _seen_from(app, "10.0.1.2") as official,
    ):
        guesses = [guesser.post(TOKEN, data=_login("tpht.head", f"guess-{i}")) for i in range(200)]
        during = official.post(TOKEN, data=_login("tpht.head", demo_password))
        *answers, own = await asyncio.gather(*guesses, during)
        statuses = [r.status_code for r in answers]
        assert statuses.count(401) == 3 and statuses.count(429) == 197, statuses
        assert checks.against(head_hash) == 3 + 1  # the guesses allowed, and the official's
        assert own.status_code == 200, own.text

        waits = [int(r.headers["Retry-After"]) for r in answers if r.status_code == 429]
        assert all(0 < wait <= 60 for wait in waits), waits
        r = await guesser.post(TOKEN, data=_login("tpht.head", demo_password))
        assert r.status_code == 429 and 0 < int(r.headers["Retry-After"]) <= 60
        assert (await official.post(TOKEN, data=_login("tpht.head", demo_password))).is_success
    assert checks.against(head_hash) == 3 + 2


async def test_the_wait_doubles_and_the_right_password_clears_it(
    settings: Settings, demo_password: str
) -> None:
    async with _app(settings, login_delay_seconds=1) as app, _seen_from(app, "10.0.2.1") as client:
        wrong, right = _login("kt.head2", "wrong"), _login("kt.head2", demo_password)
        for _ in range(3):
            assert (await client.post(TOKEN, data=wrong)).status_code == 401
        r = await client.post(TOKEN, data=right)
        assert r.status_code == 429 and r.headers["Retry-After"] == "1"
        await asyncio.sleep(1.1)
        assert (await client.post(TOKEN, data=wrong)).status_code == 401
        r = await client.post(TOKEN, data=wrong)
        assert r.status_code == 429 and r.headers["Retry-After"] == "2"
        await asyncio.sleep(2.1)
        assert (await client.post(TOKEN, data=right)).status_code == 200
        # Cleared: the free failures again.
        for _ in range(3):
            assert (await client.post(TOKEN, data=wrong)).status_code == 401


async def test_a_client_trying_many_names_meets_its_ceiling(
    settings: Settings, demo_password: str
) -> None:
    async with (
        _app(settings, login_client_failures_allowed=5) as app,
        _seen_from(app, "10.0.3.1") as sprayer,
        _seen_from(app, "10.0.3.2") as other,
    ):
        # A right password takes back its try: it does not count toward the ceiling.
        assert (await sprayer.post(TOKEN, data=_login("kt.head", demo_password))).is_success
        for i in range(5):
            r = await sprayer.post(TOKEN, data=_login(f"nobody.{i}", "x"))
            assert r.status_code == 401
        r = await sprayer.post(TOKEN, data=_login("kt.head", demo_password))
        assert r.status_code == 429 and r.headers["Retry-After"] == str(15 * 60)
        assert (await other.post(TOKEN, data=_login("kt.head", demo_password))).is_success


async def test_an_unknown_name_costs_the_same_check_as_a_known_one(
    settings: Settings, sessionmaker: Sessionmaker, checks: Checks
) -> None:
    async with _api(settings, "10.0.4.1") as client:
        unknown = await client.post(TOKEN, data=_login("nobody.at.all", "x"))
        known = await client.post(TOKEN, data=_login("kt.specialist2", "x"))
    assert unknown.status_code == known.status_code == 401
    assert unknown.json() == known.json()
    (nothing, in_thread), (real, known_in_thread) = checks.made
    assert nothing.startswith("$argon2") and nothing != real
    assert real == await _password_hash(sessionmaker, "kt.specialist2")
    assert threading.main_thread() not in (in_thread, known_in_thread)


async def test_the_api_answers_while_passwords_are_checked(settings: Settings) -> None:
    """Forty logins at once (unknown names: each a password check) to a server under uvicorn;
    meanwhile another client's cheap requests are each answered sooner than one password
    check takes (a check on the event loop would hold every request up for as long)."""
    started = time.perf_counter()
    api.security.verify_password(api.security.hash_password("x"), "y")
    one_check = time.perf_counter() - started
    port = free_port()
    async with _app(settings) as app, serving(app, port):
        url = f"http://127.0.0.1:{port}"
        latencies: list[float] = []
        done = threading.Event()

        def watch() -> None:
            with httpx.Client(base_url=url) as watcher:
                while not done.is_set():
                    asked = time.perf_counter()
                    assert watcher.get("/healthz").status_code == 200
                    latencies.append(time.perf_counter() - asked)
                    time.sleep(0.01)

        watching = asyncio.create_task(asyncio.to_thread(watch))
        async with httpx.AsyncClient(base_url=url, timeout=60) as sprayer:
            burst = await asyncio.gather(
                *(sprayer.post(TOKEN, data=_login(f"nobody.{i}", "x")) for i in range(40))
            )
        done.set()
        await watching
    assert [r.status_code for r in burst] == [401] * 40
    assert len(latencies) > 5, latencies
    assert max(latencies) < one_check, (max(latencies), one_check)


async def test_lookups_with_wrong_keys_are_throttled_per_client(settings: Settings) -> None:
    async with _api(settings, "10.0.0.3") as prober, _api(settings, "10.0.0.4") as other:
        code = "000.00.15.H39-261128-0001"
        for guess in ("AAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBB", "CCCCCCCCCCCCCCCC"):
            r = await prober.get(f"/api/v1/dossiers/{code}", headers={"X-Lookup-Key": guess})
            assert r.status_code == 404
        r = await prober.get(f"/api/v1/dossiers/{code}", headers={"X-Lookup-Key": "D" * 16})
        assert r.status_code == 429 and r.headers["Retry-After"] == str(10 * 60)
        r = await other.get(f"/api/v1/dossiers/{code}", headers={"X-Lookup-Key": "D" * 16})
        assert r.status_code == 404


async def test_parallel_wrong_lookups_are_counted_each(settings: Settings) -> None:
    """Ten wrong lookups at once from one client: three are answered 404, the rest 429."""
    async with _api(settings, "10.0.6.1") as prober:
        code = "000.00.15.H39-261128-0002"
        headers = {"X-Lookup-Key": "E" * 16}
        answers = await asyncio.gather(
            *(prober.get(f"/api/v1/dossiers/{code}", headers=headers) for _ in range(10))
        )
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [404] * 3 + [429] * 7, statuses

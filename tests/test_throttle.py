"""Guessing is throttled: failed logins per name and per client, failed dossier lookups per
client, across API processes (the counts live in PostgreSQL)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from api.main import create_app
from motcua.settings import Settings
from tests.conftest import Stack


@asynccontextmanager
async def _api(settings: Settings, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """An API process of its own, with low limits, seen from `address`."""
    strict = settings.model_copy(update={"login_failures_allowed": 3, "lookup_failures_allowed": 3})
    app = create_app(strict)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


async def test_failed_logins_are_throttled_by_name_and_by_client(
    settings: Settings, stack: Stack, demo_password: str
) -> None:
    async with _api(settings, "10.0.0.1") as guesser, _api(settings, "10.0.0.2") as other:
        for _ in range(3):
            r = await guesser.post(
                "/api/v1/auth/token", data={"username": "tpht.head", "password": "x"}
            )
            assert r.status_code == 401
        # Now even the right password waits, from this client…
        right = {"username": "tpht.head", "password": demo_password}
        r = await guesser.post("/api/v1/auth/token", data=right)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
        # …and for this name, from anywhere.
        assert (await other.post("/api/v1/auth/token", data=right)).status_code == 429
        # Another official logs in from the other client as usual.
        r = await other.post(
            "/api/v1/auth/token", data={"username": "tpht.head2", "password": demo_password}
        )
        assert r.status_code == 200


async def test_lookups_with_wrong_keys_are_throttled_per_client(
    settings: Settings, stack: Stack
) -> None:
    async with _api(settings, "10.0.0.3") as prober, _api(settings, "10.0.0.4") as other:
        code = "000.00.15.H39-261128-0001"
        for guess in ("AAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBB", "CCCCCCCCCCCCCCCC"):
            r = await prober.get(f"/api/v1/dossiers/{code}", headers={"X-Lookup-Key": guess})
            assert r.status_code == 404
        r = await prober.get(f"/api/v1/dossiers/{code}", headers={"X-Lookup-Key": "D" * 16})
        assert r.status_code == 429
        r = await other.get(f"/api/v1/dossiers/{code}", headers={"X-Lookup-Key": "D" * 16})
        assert r.status_code == 404

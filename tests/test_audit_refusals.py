"""What the unidentified had refused is counted, one row per client, kind and hour, not chained
row by row: a client refused a thousand times grows the audit trail by a row or two."""

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from api.main import create_app
from api.security import gateway_signature
from motcua.settings import Settings
from store.audit import AuditEntry, append
from store.db import Sessionmaker
from store.models import AuditRow, RefusalCount
from tests.conftest import Stack

CALLBACK = "/api/v1/payments/callback"


@asynccontextmanager
async def _api(settings: Settings, address: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


async def _chained(sessionmaker: Sessionmaker) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(AuditRow)) or 0)


async def _counted(sessionmaker: Sessionmaker, client: str) -> dict[str, tuple[int, int]]:
    """Per kind: (rows, attempts counted) for `client`."""
    async with sessionmaker() as session:
        rows = await session.execute(
            select(RefusalCount.kind, func.count(), func.sum(RefusalCount.count))
            .where(RefusalCount.client == client)
            .group_by(RefusalCount.kind)
        )
        return {kind: (int(n), int(total)) for kind, n, total in rows}


async def test_a_thousand_refused_callbacks_grow_the_trail_by_a_row(
    settings: Settings, stack: Stack, sessionmaker: Sessionmaker
) -> None:
    body = b'{"event_id": "e"}'
    secret = settings.payment_callback_secret.get_secret_value()
    chained_before = await _chained(sessionmaker)
    async with _api(settings, "10.7.0.1") as forger:

        async def forge(i: int) -> int:
            ts = str(int(time.time()))
            wrong = gateway_signature(secret, ts, body + str(i).encode())
            headers = {"X-Gateway-Timestamp": ts, "X-Gateway-Signature": wrong}
            return (await forger.post(CALLBACK, content=body, headers=headers)).status_code

        for batch in range(20):  # 50 at a time: the same row, counted by parallel requests
            codes = await asyncio.gather(*(forge(batch * 50 + i) for i in range(50)))
            assert set(codes) == {401}
    # (Another test's rows may land meanwhile: a few, not a thousand.)
    assert await _chained(sessionmaker) - chained_before < 10
    rows, attempts = (await _counted(sessionmaker, "10.7.0.1"))["payment_callback_refused"]
    assert attempts == 1000
    assert rows <= 2  # one an hour: two if the hour turned meanwhile
    async with sessionmaker() as session:
        row = await session.scalar(select(RefusalCount).where(RefusalCount.client == "10.7.0.1"))
    assert row is not None and row.example["detail"] == {"reason": "bad signature"}
    assert row.example["actor"] == "gateway?" and row.first_at <= row.last_at


async def test_an_applicants_refusals_are_counted_an_officials_chained(
    settings: Settings, stack: Stack, sessionmaker: Sessionmaker
) -> None:
    code = "000.00.15.H39-261128-0001"
    async with _api(settings, "10.7.0.2") as prober:
        for _ in range(30):
            r = await prober.post(
                f"/api/v1/dossiers/{code}/withdraw", json={}, headers={"X-Lookup-Key": "A" * 16}
            )
            assert r.status_code == 404
    assert await _counted(sessionmaker, "10.7.0.2") == {"withdraw:404": (1, 30)}
    async with sessionmaker() as session:
        chained = await session.scalar(
            select(func.count()).select_from(AuditRow).where(AuditRow.client == "10.7.0.2")
        )
    assert chained == 0


async def test_counts_only_grow(sessionmaker: Sessionmaker) -> None:
    await append(
        sessionmaker,
        AuditEntry("applicant", "applicant", "rate", None, "10.7.0.3", {"refused": 404}),
    )
    for statement in (
        "UPDATE audit_refusals SET count = 0 WHERE client = '10.7.0.3'",
        "UPDATE audit_refusals SET example = '{}' WHERE client = '10.7.0.3'",
        "DELETE FROM audit_refusals WHERE client = '10.7.0.3'",
        "TRUNCATE audit_refusals",
    ):
        with pytest.raises(DBAPIError, match="only counts"):
            async with sessionmaker.begin() as session:
                await session.execute(text(statement))
    assert await _counted(sessionmaker, "10.7.0.3") == {"rate:404": (1, 1)}

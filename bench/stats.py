"""The service-index query on a million dossiers. Seeds a throwaway embedded PostgreSQL with N
dossiers spread over a year, with their end-of-processing slip entries, payments and ratings,
then times the query (the median of five runs). Prints one line:

    dossiers=… seeded_s=… stats_month_ms=… stats_year_ms=… stats_department_month_ms=…
    stats_department_year_ms=… snapshot_ms=… running_overdue_ms=… open_tasks_ms=…

    .venv/bin/python bench/stats.py [--dossiers 1000000]
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from activities.statistics_activities import SCOPES
from domain.calendar import VN_TZ
from motcua import embedded
from motcua.cli import prepare_database
from motcua.settings import Settings
from store.db import create_engine, create_sessionmaker
from store.dossiers import running_dossiers, tasks_by_department
from store.statistics import StatsFilter, service_index, service_index_by

# A year of dossiers: channels, applicant kinds, statuses and fees in realistic proportions.
_SEED = """
INSERT INTO dossiers (code, agency_code, procedure_code, catalog_version, channel,
    applicant_kind, applicant, form, documents, delivery, fee_vnd, lookup_salt, request_hash,
    received_at, due_at, status_code, stage, outcome, department, processed_at, finished_at,
    supplement_requests, last_seq)
SELECT 'BENCH-' || i, '000.00.15.H39',
    (ARRAY['1.001612','1.009994','1.001193','2.000815'])[1 + i % 4],
    :version, (ARRAY['online','online','counter','post'])[1 + i % 4],
    CASE WHEN i % 5 = 0 THEN 'organization' ELSE 'individual' END,
    '{}', '{}', '[]',
    jsonb_build_object('method', CASE WHEN i % 3 = 0 THEN 'counter' ELSE 'online' END),
    (ARRAY[100000, 75000, 0, 2000])[1 + i % 4], 's', 'h',
    received, received + interval '5 days', CASE WHEN i % 10 < 8 THEN 10 ELSE 4 END, 'done',
    'approved', (ARRAY['KT','KTHT','TPHT','LD'])[1 + i % 4],
    CASE WHEN i % 10 < 8 THEN received + (i % 9) * interval '1 day' END,
    CASE WHEN i % 10 < 8 THEN received + (i % 9) * interval '1 day' END, (i % 17 = 0)::int * 2, 9
FROM (SELECT i, timestamptz '2025-01-01 08:00+07' + (i % 365) * interval '1 day'
             + (i % 8) * interval '1 hour' AS received
      FROM generate_series(1, :n) AS i) AS seeded
"""
_SEED_SLIP = """
INSERT INTO slip_entries (dossier_code, seq, step_key, department, actor, action, at)
SELECT code, 1, 'x', department, 'system', 'result_issued', finished_at
FROM dossiers WHERE code LIKE 'BENCH-%' AND finished_at IS NOT NULL
"""
_SEED_PAYMENTS = """
INSERT INTO payments (dossier_code, payment_id, amount_vnd, status, via, paid_at)
SELECT code, 'P-' || code, fee_vnd, 'paid',
       CASE WHEN channel = 'online' THEN 'gateway' ELSE 'desk' END, finished_at
FROM dossiers WHERE code LIKE 'BENCH-%' AND fee_vnd > 0 AND finished_at IS NOT NULL
"""
_SEED_RATINGS = """
INSERT INTO ratings (dossier_code, satisfaction)
SELECT code, (ARRAY['satisfied','neutral','dissatisfied'])[1 + abs(hashtext(code)) % 3]
FROM dossiers WHERE code LIKE 'BENCH-%' AND status_code = 10 AND abs(hashtext(code)) % 10 = 0
"""


async def main(dossiers: int, database_url: str) -> None:
    settings = Settings(database_url=database_url)
    catalog = await prepare_database(settings)
    engine = create_engine(database_url, pool_size=2)
    started = time.perf_counter()
    async with engine.begin() as conn:
        await conn.execute(text(_SEED), {"version": catalog.version, "n": dossiers})
        for statement in (_SEED_SLIP, _SEED_PAYMENTS, _SEED_RATINGS):
            await conn.execute(text(statement))
    # What autovacuum would have done by now on a table that grew over a year.
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE"))
    seeded = time.perf_counter() - started
    sessionmaker = create_sessionmaker(engine)

    async def timed(query: Callable[[AsyncSession], Awaitable[object]]) -> float:
        runs = []
        for _ in range(5):
            async with sessionmaker() as session:
                t = time.perf_counter()
                await query(session)
                runs.append((time.perf_counter() - t) * 1000)
        return round(statistics.median(runs), 1)

    async def index(start: datetime, end: datetime, department: str | None = None) -> float:
        f = StatsFilter(start, end, department=department)
        return await timed(lambda session: service_index(session, f))

    async def snapshot(session: AsyncSession) -> None:
        """What the daily snapshot queries at the end of a month."""
        for scope in SCOPES:
            await service_index_by(session, StatsFilter.month_to_date(date(2025, 3, 31)), scope)

    now = datetime.now(VN_TZ)  # every dossier still running is past its appointment
    march = (datetime(2025, 3, 1, tzinfo=VN_TZ), datetime(2025, 4, 1, tzinfo=VN_TZ))
    year = (datetime(2025, 1, 1, tzinfo=VN_TZ), datetime(2026, 1, 1, tzinfo=VN_TZ))
    print(
        f"dossiers={dossiers} seeded_s={seeded:.0f} "
        f"stats_month_ms={await index(*march)} "
        f"stats_year_ms={await index(*year)} "
        f"stats_department_month_ms={await index(*march, department='KT')} "
        f"stats_department_year_ms={await index(*year, department='KT')} "
        f"snapshot_ms={await timed(snapshot)} "
        # The operators' views: a department's late dossiers, and the open tasks of /metrics.
        f"running_overdue_ms={await timed(lambda s: running_dossiers(s, 'KT', now, 100, 0))} "
        f"open_tasks_ms={await timed(lambda s: tasks_by_department(s, now))}",
        flush=True,
    )
    await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dossiers", type=int, default=1_000_000)
    args = parser.parse_args()
    pgdata = Path(tempfile.mkdtemp(prefix="motcua-bench-")) / "pg"
    server, url = embedded.start_postgres(pgdata, database="motcua_bench", throwaway=True)
    try:
        asyncio.run(main(args.dossiers, url))
    finally:
        server.cleanup()  # type: ignore[attr-defined]

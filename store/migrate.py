"""Applies the numbered SQL files in `migrations/` once each, in order, under an advisory lock
so that an API and a worker starting together do not race."""

from importlib.resources import files

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_LOCK_ID = 0x6D6F74637561  # "motcua"


def _migrations() -> list[tuple[str, str]]:
    folder = files("store") / "migrations"
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql"))
    return [(name, (folder / name).read_text(encoding="utf-8")) for name in names]


async def migrate(engine: AsyncEngine) -> list[str]:
    """Apply pending migrations; returns the names applied."""
    applied: list[str] = []
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
        await conn.execute(
            text(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
        )
        done = set((await conn.execute(text("SELECT name FROM schema_migrations"))).scalars())
        for name, sql in _migrations():
            if name in done:
                continue
            # Straight to the driver, with no parameters: a `%` in the SQL is just a `%`.
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver is not None
            await driver.execute(sql)
            await conn.execute(
                text("INSERT INTO schema_migrations (name) VALUES (:n)"), {"n": name}
            )
            applied.append(name)
    return applied

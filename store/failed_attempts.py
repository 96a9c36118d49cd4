"""Failed attempts (logins, lookups), for throttling: counted per key and minute, and each
login's name and client address with the delay its next try waits. Each count is taken and
read in one statement, so parallel attempts each see a count of their own."""

from datetime import timedelta

from sqlalchemy import text

from store.db import Sessionmaker


async def count_failure(sessionmaker: Sessionmaker, key: str, window: timedelta) -> int:
    """One more failure for `key`, and how many it has had within `window`, this one included.
    Counts older than `window` are dropped."""
    async with sessionmaker.begin() as session:
        # The current minute's row is locked by the upsert, so parallel failures each return
        # the count after theirs; the older minutes' rows no longer change.
        total = await session.scalar(
            text(
                "WITH counted AS ("
                " INSERT INTO failed_attempts (key, minute, count)"
                " VALUES (:key, date_trunc('minute', now()), 1)"
                " ON CONFLICT (key, minute) DO UPDATE SET count = failed_attempts.count + 1"
                " RETURNING minute, count)"
                " SELECT counted.count + coalesce((SELECT sum(f.count) FROM failed_attempts f"
                "  WHERE f.key = :key AND f.minute >= now() - :window"
                "  AND f.minute <> counted.minute), 0)"
                " FROM counted"
            ),
            {"key": key, "window": window},
        )
        await session.execute(
            text("DELETE FROM failed_attempts WHERE key = :key AND minute < now() - :window"),
            {"key": key, "window": window},
        )
    return int(total)


async def forgive_failure(sessionmaker: Sessionmaker, key: str) -> None:
    """Take back one failure counted for `key` (an attempt counted before it was known to
    succeed)."""
    async with sessionmaker.begin() as session:
        await session.execute(
            text(
                "INSERT INTO failed_attempts (key, minute, count)"
                " VALUES (:key, date_trunc('minute', now()), -1)"
                " ON CONFLICT (key, minute) DO UPDATE SET count = failed_attempts.count - 1"
            ),
            {"key": key},
        )


# After `free` failures in a row, the next try waits `first` seconds, doubling with each
# failure up to `longest` (the exponent is capped so that the power cannot overflow).
_NEXT_TRY = (
    "CASE WHEN {failures} < :free THEN now() ELSE now() + make_interval(secs =>"
    " least(:longest, :first * power(2, least({failures} - :free, 40)))) END"
)
_FAILURES = "CASE WHEN d.last_at < now() - :forget THEN 1 ELSE d.failures + 1 END"


async def reserve_login(
    sessionmaker: Sessionmaker,
    username: str,
    client: str,
    *,
    free: int,
    first: float,
    longest: float,
    forget: timedelta,
) -> float | None:
    """Count a login try of `username` from `client` as a failure, before its password is
    checked: None when it may go ahead, else the seconds until the next may. A try that must
    wait changes nothing. Failures with no try for `forget` are forgotten."""
    async with sessionmaker.begin() as session:
        # The upsert's WHERE is checked again on the row as a parallel try left it, so of
        # parallel tries only as many go ahead as one after the other would; the outer SELECT
        # reads the row as it was before (its wait, for a try refused).
        row = (
            await session.execute(
                text(
                    "WITH reserved AS ("
                    " INSERT INTO login_delays AS d"
                    "  (username, client, failures, not_before, last_at)"
                    f" VALUES (:username, :client, 1, {_NEXT_TRY.format(failures='1')}, now())"
                    " ON CONFLICT (username, client) DO UPDATE SET"
                    f"  failures = {_FAILURES},"
                    f"  not_before = {_NEXT_TRY.format(failures=_FAILURES)},"
                    "  last_at = now()"
                    " WHERE d.not_before <= now() OR d.last_at < now() - :forget"
                    " RETURNING 1)"
                    " SELECT EXISTS (SELECT FROM reserved),"
                    " (SELECT extract(epoch FROM not_before - now()) FROM login_delays"
                    "  WHERE username = :username AND client = :client)"
                ),
                {
                    "username": username,
                    "client": client,
                    "free": free,
                    "first": first,
                    "longest": longest,
                    "forget": forget,
                },
            )
        ).one()
        await session.execute(
            text("DELETE FROM login_delays WHERE last_at < now() - :forget"), {"forget": forget}
        )
    allowed, wait = row
    if allowed:
        return None
    # No row seen: a parallel try made it after this statement began; its delay is unknown.
    return max(float(wait if wait is not None else first), 0.0)


async def clear_login(sessionmaker: Sessionmaker, username: str, client: str) -> None:
    """The right password from this client: its failures for this name are forgotten."""
    async with sessionmaker.begin() as session:
        await session.execute(
            text("DELETE FROM login_delays WHERE username = :username AND client = :client"),
            {"username": username, "client": client},
        )

"""Throttling of guesses: a client (or an official's name) that failed too often lately is
answered 429 for a while, so passwords cannot be tried by the thousand nor dossier codes
enumerated with made-up lookup keys."""

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import HTTPException, status

from motcua.settings import Settings
from store import failed_attempts
from store.db import Sessionmaker

# The address of the request being served (set by the request middleware).
client_address: ContextVar[str | None] = ContextVar("client_address", default=None)


@dataclass(frozen=True)
class Limit:
    name: str
    attempts: int
    window: timedelta


def login_limit(settings: Settings) -> Limit:
    return Limit("login", settings.login_failures_allowed, timedelta(minutes=15))


def lookup_limit(settings: Settings) -> Limit:
    return Limit("lookup", settings.lookup_failures_allowed, timedelta(minutes=10))


def _keys(limit: Limit, subjects: list[str]) -> list[str]:
    client = client_address.get() or "unknown"
    return [f"{limit.name}:client:{client}", *(f"{limit.name}:{s}" for s in subjects)]


async def check(sessionmaker: Sessionmaker, limit: Limit, *subjects: str) -> None:
    """429 when the client, or any of `subjects` (e.g. the username tried), failed too often."""
    since = datetime.now(UTC) - limit.window
    for key in _keys(limit, list(subjects)):
        if await failed_attempts.count_since(sessionmaker, key, since) >= limit.attempts:
            minutes = int(limit.window.total_seconds() // 60)
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                detail=f"too many failed attempts: try again in {minutes} minutes",
                headers={"Retry-After": str(int(limit.window.total_seconds()))},
            )


async def failed(sessionmaker: Sessionmaker, limit: Limit, *subjects: str) -> None:
    await failed_attempts.record(sessionmaker, _keys(limit, list(subjects)), limit.window)

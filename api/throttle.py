"""Throttling of guesses, so passwords cannot be tried by the thousand nor dossier codes
enumerated with made-up lookup keys. Counted in PostgreSQL (every API process sees the same
counts), each count taken and checked in one statement: parallel guesses get no more tries
than the same guesses one after the other.

Logins: a name tried from a client address has LOGIN_FAILURES_ALLOWED free failures; then
each next try from there waits a delay that doubles (LOGIN_DELAY_SECONDS, up to
LOGIN_DELAY_MAX_SECONDS), and the right password clears it. So a stranger's guesses slow down
the stranger's own client only, never the official's login from theirs. A client failing
across many names meets a ceiling of its own: LOGIN_CLIENT_FAILURES_ALLOWED in 15 minutes.

Lookups: a client whose lookups failed LOOKUP_FAILURES_ALLOWED times in 10 minutes is
answered 429."""

import math
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta

from fastapi import HTTPException, status

from api.context import AppContext
from store import failed_attempts

# The address of the request being served (set by the request middleware).
client_address: ContextVar[str | None] = ContextVar("client_address", default=None)

LOGIN_CLIENT_WINDOW = timedelta(minutes=15)
LOOKUP_WINDOW = timedelta(minutes=10)
# A name and client with no login try for this long start again with their free failures.
FORGET_LOGIN_FAILURES = timedelta(days=1)


def _client() -> str:
    return client_address.get() or "unknown"


def _too_many(seconds: float) -> HTTPException:
    wait = max(1, math.ceil(seconds))
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        detail=f"too many failed attempts: try again in {wait} seconds",
        headers={"Retry-After": str(wait)},
    )


@dataclass(frozen=True)
class LoginTry:
    """A login try, counted as failed until `login_succeeded` says otherwise."""

    username: str
    client: str


async def reserve_login(ctx: AppContext, username: str) -> LoginTry:
    """Count a try of `username` from this client as failed before its password is checked
    (so that parallel guesses each take up one of the tries allowed), or 429 with Retry-After
    saying when the next may come."""
    settings, client = ctx.settings, _client()
    wait = await failed_attempts.reserve_login(
        ctx.sessionmaker,
        username,
        client,
        free=settings.login_failures_allowed,
        first=settings.login_delay_seconds,
        longest=settings.login_delay_max_seconds,
        forget=FORGET_LOGIN_FAILURES,
    )
    if wait is not None:
        raise _too_many(wait)
    tried = await failed_attempts.count_failure(
        ctx.sessionmaker, f"login:client:{client}", LOGIN_CLIENT_WINDOW
    )
    if tried > settings.login_client_failures_allowed:
        raise _too_many(LOGIN_CLIENT_WINDOW.total_seconds())
    return LoginTry(username, client)


async def login_succeeded(ctx: AppContext, login: LoginTry) -> None:
    """The right password: the try was no failure, and the name's earlier ones from this
    client are forgotten."""
    await failed_attempts.clear_login(ctx.sessionmaker, login.username, login.client)
    await failed_attempts.forgive_failure(ctx.sessionmaker, f"login:client:{login.client}")


async def lookup_failed(ctx: AppContext) -> None:
    """One more failed lookup by this client; 429 once it has failed too often lately."""
    failures = await failed_attempts.count_failure(
        ctx.sessionmaker, f"lookup:client:{_client()}", LOOKUP_WINDOW
    )
    if failures > ctx.settings.lookup_failures_allowed:
        raise _too_many(LOOKUP_WINDOW.total_seconds())


UPLOAD_WINDOW = timedelta(hours=1)


async def upload_counted(ctx: AppContext) -> None:
    """One more upload by this (anonymous) client, counted with the failures (one counter per
    key and minute); 429 once it has tried more than UPLOADS_PER_HOUR in the last hour."""
    uploads = await failed_attempts.count_failure(
        ctx.sessionmaker, f"upload:client:{_client()}", UPLOAD_WINDOW
    )
    if uploads > ctx.settings.uploads_per_hour:
        wait = int(UPLOAD_WINDOW.total_seconds())
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"too many uploads from this address: try again in {wait} seconds",
            headers={"Retry-After": str(wait)},
        )

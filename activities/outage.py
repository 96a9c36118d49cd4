"""A database outage, told once. While PostgreSQL is down every activity attempt and every
poll of the outbox fails, each retrying on its own; the worker's log says "database
unavailable" when the first of them fails and "database reachable again" when one gets
through afterwards, instead of a warning and a traceback per attempt.

The attempts themselves are left to their retry policies (until they succeed): an outage is
the database's, not the dossier's, so an activity's failure is reported to Temporal as a
benign `DatabaseUnavailable` error, which the SDK logs at debug level and keeps out of its
failure metrics; the original error is its cause, for `temporal workflow describe`.
"""

import time

import structlog
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from store.db import DATABASE_OUTAGE

log = structlog.get_logger()


class DatabaseOutage:
    """Whether this process is living through an outage, and since when (one per process,
    shared by its activities and its outbox dispatcher)."""

    def __init__(self) -> None:
        self._since: float | None = None  # time.monotonic() when the first failure was seen

    def failed(self, error: BaseException) -> None:
        """An attempt failed on the database."""
        if self._since is None:
            self._since = time.monotonic()
            log.warning("database unavailable", error=type(error).__name__)

    def succeeded(self, attempt_started: float) -> None:
        """An attempt that began at `attempt_started` (time.monotonic()) got through. One that
        began before the outage was seen proves nothing: it may have committed just before."""
        if self._since is not None and attempt_started > self._since:
            log.info("database reachable again", after_s=round(time.monotonic() - self._since, 1))
            self._since = None


class DatabaseOutageInterceptor(Interceptor):
    """Reports the worker's activities' database failures to `outage`."""

    def __init__(self, outage: DatabaseOutage) -> None:
        self._outage = outage

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityAttempt(next, self._outage)


class _ActivityAttempt(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, outage: DatabaseOutage) -> None:
        super().__init__(next)
        self._outage = outage

    async def execute_activity(self, input: ExecuteActivityInput) -> object:
        started = time.monotonic()
        try:
            result = await super().execute_activity(input)
        except DATABASE_OUTAGE as error:
            self._outage.failed(error)
            raise ApplicationError(
                f"the database is unavailable ({type(error).__name__})",
                type="DatabaseUnavailable",
                category=ApplicationErrorCategory.BENIGN,
            ) from error
        self._outage.succeeded(started)
        return result

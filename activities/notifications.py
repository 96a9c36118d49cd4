"""Delivering the applicants' notifications: e-mail and SMS senders behind one interface, and
the dispatcher that takes queued rows from the outbox to them.

The workflow's activities only ever write to the outbox (in the transaction that records the
status), so a retry never queues a message twice. The dispatcher delivers at least once: a
crash between sending and marking a row sent would send it again, so each message carries the
row's id as its reference (the e-mail's Message-ID, the SMS gateway's client reference) for the
receiving side to drop the repeat. With no sender configured (the embedded default), rows stay
in the outbox, where `motcua outbox` shows them.
"""

import asyncio
import contextlib
import smtplib
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Protocol

import httpx
import structlog
from sqlalchemy import or_, select

from activities.outage import DatabaseOutage
from motcua.settings import Settings
from store.db import DATABASE_OUTAGE, Sessionmaker
from store.models import Notification

log = structlog.get_logger()

# After this many failed attempts a row is left for an operator (it keeps its last error).
MAX_ATTEMPTS = 10


class NotificationSender(Protocol):
    channel: str  # the outbox channel it delivers: "email" or "sms"

    async def send(self, recipient: str, message: str, reference: str) -> None: ...


class SmtpEmailSender:
    channel = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = True,
    ) -> None:
        self._host, self._port, self._sender = host, port, sender
        self._username, self._password, self._starttls = username, password, starttls

    async def send(self, recipient: str, message: str, reference: str) -> None:
        email = EmailMessage()
        email["From"], email["To"] = self._sender, recipient
        email["Subject"] = message.split(":", 1)[0]  # "Hồ sơ <code>"
        email["Message-ID"] = f"<{reference}@{self._sender.rsplit('@', 1)[-1]}>"
        email.set_content(message)
        await asyncio.to_thread(self._deliver, email)

    def _deliver(self, email: EmailMessage) -> None:
        with smtplib.SMTP(self._host, self._port, timeout=30) as smtp:
            if self._starttls:
                smtp.starttls()
            if self._username and self._password:
                smtp.login(self._username, self._password)
            smtp.send_message(email)


class HttpSmsSender:
    """An SMS gateway taking `{"to", "message", "reference"}` as JSON with a bearer token, the
    shape of the common Vietnamese brand-name SMS APIs."""

    channel = "sms"

    def __init__(self, url: str, token: str | None, client: httpx.AsyncClient) -> None:
        self._url, self._client = url, client
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def send(self, recipient: str, message: str, reference: str) -> None:
        response = await self._client.post(
            self._url,
            json={"to": recipient, "message": message, "reference": reference},
            headers=self._headers,
        )
        response.raise_for_status()


def senders_from(settings: Settings, client: httpx.AsyncClient) -> list[NotificationSender]:
    senders: list[NotificationSender] = []
    if settings.smtp_host and settings.smtp_from:
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        senders.append(
            SmtpEmailSender(
                settings.smtp_host,
                settings.smtp_port,
                settings.smtp_from,
                settings.smtp_username,
                password,
                settings.smtp_starttls,
            )
        )
    if settings.sms_gateway_url:
        token = (
            settings.sms_gateway_token.get_secret_value() if settings.sms_gateway_token else None
        )
        senders.append(HttpSmsSender(settings.sms_gateway_url, token, client))
    return senders


class OutboxDispatcher:
    def __init__(
        self,
        sessionmaker: Sessionmaker,
        senders: list[NotificationSender],
        outage: DatabaseOutage | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._senders = {sender.channel: sender for sender in senders}
        # The worker's, shared with its activities: an outage is logged once, not per poll.
        self._outage = outage or DatabaseOutage()

    async def deliver_pending(self, stop: asyncio.Event | None = None) -> int:
        """Send the queued messages of the channels with a sender (a failed one waits before
        its next attempt), one at a time, each committed as soon as it is sent, until none is
        left or `stop` is set; returns how many were tried. A message is locked while it is
        sent, so several dispatchers share the work."""
        tried = 0
        while not (stop and stop.is_set()) and await self._deliver_next():
            tried += 1
        return tried

    async def _deliver_next(self) -> bool:
        """Send the oldest message due, if any (False: none)."""
        now = datetime.now(UTC)
        async with self._sessionmaker.begin() as session:
            row = await session.scalar(
                select(Notification)
                .where(
                    Notification.sent_at.is_(None),
                    Notification.channel.in_(self._senders),
                    Notification.attempts < MAX_ATTEMPTS,
                    or_(Notification.retry_at.is_(None), Notification.retry_at <= now),
                )
                .order_by(Notification.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if row is None:
                return False
            try:
                await self._senders[row.channel].send(
                    row.recipient, row.message, f"motcua-notification-{row.id}"
                )
            except (OSError, smtplib.SMTPException, httpx.HTTPError) as exc:
                row.attempts += 1
                # 2, 4, 8 … minutes: a gateway that is down is not hammered.
                row.retry_at = now + timedelta(minutes=2**row.attempts)
                row.last_error = f"{type(exc).__name__}: {exc}"[:500]
                # The error may name the recipient: only its kind goes to the log.
                log.warning("notification not sent", id=row.id, error=type(exc).__name__)
            else:
                row.sent_at = datetime.now(UTC)
        return True

    async def run(self, stop: asyncio.Event, interval_seconds: float) -> None:
        """Deliver until `stop` is set, looking for new rows every `interval_seconds`."""
        while not stop.is_set():
            started = time.monotonic()
            try:
                await self.deliver_pending(stop)
            except DATABASE_OUTAGE as error:  # try again at the next round
                self._outage.failed(error)
            except Exception:
                log.exception("outbox delivery failed")
            else:
                self._outage.succeeded(started)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_seconds)

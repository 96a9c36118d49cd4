"""Delivering the outbox: a real SMTP server (aiosmtpd) and a local HTTP SMS gateway."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import insert, select

from activities.notifications import (
    HttpSmsSender,
    NotificationSender,
    OutboxDispatcher,
    SmtpEmailSender,
)
from domain.catalog import load_catalog
from motcua.settings import Settings
from store.db import Sessionmaker
from store.models import Notification
from tests.conftest import SMS_TOKEN, UNREACHABLE, MailInbox, insert_dossier


async def test_the_outbox_is_delivered_once_and_failures_are_kept(
    settings: Settings,
    sessionmaker: Sessionmaker,
    mail_server: tuple[MailInbox, int],
    sms_gateway: tuple[list[dict[str, Any]], str],
) -> None:
    snapshot = load_catalog(settings.catalog_path).snapshot("1.001193")
    now = datetime.now(UTC)
    code = await insert_dossier(sessionmaker, snapshot, now, now + timedelta(days=1))
    async with sessionmaker.begin() as session:
        await session.execute(
            insert(Notification),
            [
                {"dossier_code": code, "seq": 1, "status_code": 1, "channel": "email",
                 "recipient": "an@example.vn", "message": f"Hồ sơ {code}: Mới đăng ký."},
                {"dossier_code": code, "seq": 1, "status_code": 1, "channel": "sms",
                 "recipient": "0901234567", "message": f"Hồ sơ {code}: Mới đăng ký."},
                {"dossier_code": code, "seq": 2, "status_code": 2, "channel": "sms",
                 "recipient": UNREACHABLE, "message": f"Hồ sơ {code}: Được tiếp nhận."},
            ],
        )  # fmt: skip
    inbox, port = mail_server
    texts, url = sms_gateway
    async with httpx.AsyncClient() as client:
        senders: list[NotificationSender] = [
            SmtpEmailSender("127.0.0.1", port, "motcua@tayninh.gov.vn", starttls=False),
            HttpSmsSender(url, SMS_TOKEN, client),
        ]
        dispatcher = OutboxDispatcher(sessionmaker, senders)
        # (The database is shared: earlier tests' notifications go out too.)
        assert await dispatcher.deliver_pending() >= 3
        assert await dispatcher.deliver_pending() == 0  # sent ones are not sent again

    [email] = [m for m in inbox.messages if code in m["Subject"]]
    assert email["To"] == "an@example.vn" and email["Subject"] == f"Hồ sơ {code}"
    assert email["Message-ID"].startswith("<motcua-notification-")
    assert f"Hồ sơ {code}: Mới đăng ký." in email.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert [t["to"] for t in texts if code in t["message"]] == ["0901234567"]
    async with sessionmaker() as session:
        rows = list(
            await session.scalars(select(Notification).where(Notification.dossier_code == code))
        )
    sent = {(r.channel, r.recipient): r for r in rows}
    assert sent["email", "an@example.vn"].sent_at is not None
    failed = sent["sms", UNREACHABLE]
    assert (failed.sent_at, failed.attempts) == (None, 1)  # and it waits before the next
    assert failed.retry_at is not None and failed.retry_at > datetime.now(UTC)
    assert failed.last_error is not None and "400" in failed.last_error


async def test_a_stop_is_heard_between_two_messages(
    settings: Settings, sessionmaker: Sessionmaker
) -> None:
    """A worker asked to stop stops after the message it is sending, however many are queued:
    each one sent is committed at once, and the others stay queued for the next worker."""
    snapshot = load_catalog(settings.catalog_path).snapshot("1.001193")
    now = datetime.now(UTC)
    code = await insert_dossier(sessionmaker, snapshot, now, now + timedelta(days=1))
    stop = asyncio.Event()

    class SlowGateway:
        channel = "slow"
        sent: list[str] = []

        async def send(self, recipient: str, message: str, reference: str) -> None:
            await asyncio.sleep(0.05)
            self.sent.append(recipient)
            stop.set()  # the worker is asked to stop while the first message goes out

    async with sessionmaker.begin() as session:
        await session.execute(
            insert(Notification),
            [
                {"dossier_code": code, "seq": seq, "status_code": 1, "channel": "slow",
                 "recipient": f"09000000{seq:02d}", "message": "…"}
                for seq in range(1, 6)
            ],
        )  # fmt: skip
    gateway = SlowGateway()
    dispatcher = OutboxDispatcher(sessionmaker, [gateway])
    await asyncio.wait_for(dispatcher.run(stop, interval_seconds=60), timeout=5)
    assert gateway.sent == ["0900000001"]
    async with sessionmaker() as session:
        rows = list(
            await session.scalars(
                select(Notification)
                .where(Notification.dossier_code == code)
                .order_by(Notification.seq)
            )
        )
    assert [r.sent_at is not None for r in rows] == [True, False, False, False, False]

"""The append-only audit trail, chained by hashes: each row's hash covers the previous row's
hash and its own content, so changing or removing any row breaks every hash after it."""

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from store.db import Sessionmaker
from store.models import AuditRow

GENESIS = "0" * 64  # the "previous hash" of the first row
_APPEND_LOCK = 0x6D6F74637561_01  # serialises appends: each needs the last row's hash


@dataclass
class AuditEntry:
    actor: str
    role: str
    action: str
    dossier_code: str | None = None
    client: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def row_hash(previous: str, at: datetime, entry: AuditEntry) -> str:
    content = json.dumps(
        {
            "at": at.astimezone(UTC).isoformat(),
            "actor": entry.actor,
            "role": entry.role,
            "action": entry.action,
            "dossier_code": entry.dossier_code,
            "client": entry.client,
            "detail": entry.detail,
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(f"{previous}|{content}".encode()).hexdigest()


async def append(sessionmaker: Sessionmaker, entry: AuditEntry) -> None:
    """Add `entry` in a transaction of its own (it stays, whatever the request does next)."""
    async with sessionmaker.begin() as session:
        await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _APPEND_LOCK})
        previous = await session.scalar(
            select(AuditRow.row_hash).order_by(AuditRow.id.desc()).limit(1)
        )
        at = datetime.now(UTC)
        session.add(
            AuditRow(
                at=at,
                actor=entry.actor,
                role=entry.role,
                action=entry.action,
                dossier_code=entry.dossier_code,
                client=entry.client,
                detail=entry.detail,
                row_hash=row_hash(previous or GENESIS, at, entry),
            )
        )


async def _rows(session: AsyncSession) -> AsyncIterator[AuditRow]:
    result = await session.stream_scalars(
        select(AuditRow).order_by(AuditRow.id).execution_options(yield_per=1000)
    )
    async for row in result:
        yield row


async def first_broken_row(session: AsyncSession) -> tuple[int, int | None]:
    """Walk the chain: (rows checked, id of the first row whose hash does not match or None)."""
    previous, checked = GENESIS, 0
    async for row in _rows(session):
        entry = AuditEntry(
            row.actor, row.role, row.action, row.dossier_code, row.client, row.detail
        )
        if row_hash(previous, row.at, entry) != row.row_hash:
            return checked, row.id
        previous, checked = row.row_hash, checked + 1
    return checked, None

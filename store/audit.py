"""The append-only audit trail, chained by hashes: each row's hash covers the previous row's
hash and its own content, so changing or removing any row breaks every hash after it.

What the unidentified had refused (an applicant's request refused or throttled, a callback that
is not the gateway's) is counted instead, one row per client, kind and hour (`audit_refusals`):
a row each would let anyone grow the trail without bound, each try waiting its turn at the
chain's lock. Officials' actions and reads, logins and operators' decodings keep a row each."""

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from store.db import Sessionmaker
from store.models import AuditRow, RefusalCount

GENESIS = "0" * 64  # the "previous hash" of the first row
_APPEND_LOCK = 0x6D6F74637561_01  # serialises appends: each needs the last row's hash
# Whoever acts in these roles is not identified: an applicant (anyone with a dossier's code,
# or without), or a caller claiming to be the payment gateway.
_UNIDENTIFIED_ROLES = ("applicant", "gateway")


@dataclass
class AuditEntry:
    actor: str
    role: str
    action: str
    dossier_code: str | None = None
    client: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def unidentified_refusal(self) -> bool:
        refused = "refused" in self.detail or self.action.endswith("_refused")
        return refused and self.role in _UNIDENTIFIED_ROLES

    @property
    def kind(self) -> str:
        """What was refused, and how: e.g. "supplement:404", "payment_callback_refused"."""
        status = self.detail.get("refused")
        return f"{self.action}:{status}" if status is not None else self.action


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
    """Add `entry` in a transaction of its own (it stays, whatever the request does next); a
    refusal of the unidentified is counted instead."""
    if entry.unidentified_refusal:
        await count_refusal(sessionmaker, entry)
        return
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


async def count_refusal(sessionmaker: Sessionmaker, entry: AuditEntry) -> None:
    """One more of `entry`'s kind from its client this hour: the hour's row upserted, its
    first attempt kept as the example. No lock but that row's."""
    now = func.now()
    example = {"actor": entry.actor, "dossier_code": entry.dossier_code, "detail": entry.detail}
    async with sessionmaker.begin() as session:
        await session.execute(
            insert(RefusalCount)
            .values(
                client=entry.client or "unknown",
                kind=entry.kind,
                hour=func.date_trunc("hour", now),
                count=1,
                first_at=now,
                last_at=now,
                example=example,
            )
            .on_conflict_do_update(
                index_elements=["client", "kind", "hour"],
                # (Transactions start in one order and may commit in another.)
                set_={
                    "count": RefusalCount.count + 1,
                    "last_at": func.greatest(RefusalCount.last_at, now),
                },
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

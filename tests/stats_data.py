"""Dossiers as the read model holds them at a given point of their life, written straight to
the database: a month of them, for the service index's tests, in no time."""

from datetime import datetime

from sqlalchemy import update

from domain.catalog import load_catalog
from motcua.settings import Settings
from store.db import Sessionmaker
from store.models import Dossier, Payment, Rating, SlipEntryRow
from tests.conftest import insert_dossier


async def counted_dossier(
    sessionmaker: Sessionmaker,
    settings: Settings,
    *,
    channel: str,
    kind: str,
    received: datetime,
    due: datetime,
    procedure: str = "1.001612",
    status: int = 4,
    issued: datetime | None = None,
    finished: datetime | None = None,
    fee: int = 0,
    paid_via: str | None = None,
    delivery: str = "online",
    supplements: int = 0,
    rating: str | None = None,
    department: str = "TPHT",
) -> str:
    """A dossier of `procedure` received at `received`, due at `due`, that passed through
    `department` (one slip entry); its result issued at `issued` and the dossier finished
    (returned, refused, stopped) at `finished` when given. Returns its code."""
    snapshot = load_catalog(settings.catalog_path).snapshot(procedure)
    code = await insert_dossier(sessionmaker, snapshot, received, due)
    async with sessionmaker.begin() as session:
        await session.execute(
            update(Dossier)
            .where(Dossier.code == code)
            .values(
                channel=channel,
                applicant_kind=kind,
                status_code=status,
                processed_at=issued,
                finished_at=finished,
                fee_vnd=fee,
                delivery={"method": delivery},
                supplement_requests=supplements,
            )
        )
        action, at = ("result_issued", issued) if issued else ("step_started", received)
        session.add(SlipEntryRow(dossier_code=code, seq=1, step_key="x", department=department,
                                 actor="system", action=action, at=at))  # fmt: skip
        if paid_via:
            session.add(Payment(dossier_code=code, payment_id=f"P-{code}", amount_vnd=fee,
                                status="paid", via=paid_via, paid_at=issued))  # fmt: skip
        if rating:
            session.add(Rating(dossier_code=code, satisfaction=rating))
    return code

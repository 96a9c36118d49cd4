"""What the API writes to the audit trail: who (official, applicant or gateway), in which role,
did or read what, on which dossier, from where — including what was refused."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import HTTPException, Request

from api.context import AppContext
from api.security import TokenClaims
from store.audit import AuditEntry, append

APPLICANT = "applicant"


def entry_by(
    request: Request,
    actor: str,
    role: str,
    action: str,
    dossier_code: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """An entry for `actor` in `role`, from where `request` came."""
    client = request.client.host if request.client else None
    return AuditEntry(actor, role, action, dossier_code, client, detail or {})


def entry(
    request: Request,
    action: str,
    official: TokenClaims | None,
    dossier_code: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """An official's entry, or the applicant's (no official: the dossier's lookup key)."""
    actor, role = (official.username, official.role) if official else (APPLICANT, APPLICANT)
    return entry_by(request, actor, role, action, dossier_code, detail)


@asynccontextmanager
async def audited(ctx: AppContext, audit: AuditEntry) -> AsyncIterator[None]:
    """Record `audit` once the request's work is done, or refused (with its status)."""
    try:
        yield
    except HTTPException as exc:
        audit.detail["refused"] = exc.status_code
        await append(ctx.sessionmaker, audit)
        raise
    await append(ctx.sessionmaker, audit)

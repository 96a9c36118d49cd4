"""Who may see a dossier: the applicant with the receipt's lookup key, or an official whose
department works on it (the agency's desk, a department with a step in its process, or one
its steps consulted)."""

from fastapi import HTTPException, status
from sqlalchemy.ext.asyncio import AsyncSession

from api import throttle
from api.context import AppContext
from api.security import TokenClaims, lookup_key_matches
from api.throttle import lookup_limit
from domain.codes import is_dossier_code
from store import dossiers as repo
from store.models import Dossier

NOT_FOUND = "no dossier with this code and key"


def _not_found() -> HTTPException:
    # Unknown code and wrong key look the same, so codes cannot be probed.
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=NOT_FOUND)


async def load_for_applicant(
    ctx: AppContext, session: AsyncSession, code: str, key: str | None
) -> Dossier:
    if not key:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, detail="send the receipt's lookup key as X-Lookup-Key"
        )
    limit = lookup_limit(ctx.settings)
    await throttle.check(ctx.sessionmaker, limit)
    dossier = await repo.get_dossier(session, code) if is_dossier_code(code) else None
    secret = ctx.settings.lookup_key_secret.get_secret_value()
    if dossier is None or not lookup_key_matches(key, code, dossier.lookup_salt, secret):
        await throttle.failed(ctx.sessionmaker, limit)
        raise _not_found()
    return dossier


async def departments_of(ctx: AppContext, session: AsyncSession, dossier: Dossier) -> set[str]:
    catalog = await ctx.pinned_catalog(session, dossier.catalog_version)
    procedure = catalog.procedures[dossier.procedure_code]
    desk = catalog.agencies[dossier.agency_code].desk_department
    # A department a step may consult sees the dossier only once it has been asked.
    consulted = await repo.consulted_departments(session, dossier.code)
    return {desk, *(step.department for step in procedure.steps), *consulted}


async def load_for_official(
    ctx: AppContext, session: AsyncSession, code: str, official: TokenClaims
) -> Dossier:
    dossier = await repo.get_dossier(session, code) if is_dossier_code(code) else None
    if dossier is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no dossier {code}")
    if official.department not in await departments_of(ctx, session, dossier):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"department {official.department} has no step in dossier {code}",
        )
    return dossier


async def load_for_caller(
    ctx: AppContext,
    session: AsyncSession,
    code: str,
    key: str | None,
    official: TokenClaims | None,
) -> Dossier:
    if official is not None:
        return await load_for_official(ctx, session, code, official)
    return await load_for_applicant(ctx, session, code, key)

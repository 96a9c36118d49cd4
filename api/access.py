"""Who may see a dossier: the applicant with the receipt's lookup key, or an official whose
department and role work on it (the agency's desk, a step it has reached, a department it
consulted)."""

from fastapi import HTTPException, status
from sqlalchemy.ext.asyncio import AsyncSession

from api import throttle
from api.context import AppContext
from api.security import TokenClaims, lookup_key_matches
from domain.catalog import Agency, LoadedCatalog
from domain.codes import is_dossier_code
from domain.dossier import HEAD_ROLE, Channel
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
    dossier = await repo.get_dossier(session, code) if is_dossier_code(code) else None
    secret = ctx.settings.lookup_key_secret.get_secret_value()
    if dossier is None or not lookup_key_matches(key, code, dossier.lookup_salt, secret):
        # Counted (and throttled) on failure only: a lookup with the right key costs nothing
        # more, and a key cannot be guessed anyway; what is slowed down is probing for codes.
        await throttle.lookup_failed(ctx)
        raise _not_found()
    return dossier


async def who_may_see(
    ctx: AppContext, session: AsyncSession, dossier: Dossier
) -> set[tuple[str, str]]:
    """The (department, role) pairs that may see a dossier: its agency's desk; each step it has
    reached (the current one included), with that department's head; and each department
    asked for an opinion. A step still to come sees nothing yet."""
    catalog = await ctx.pinned_catalog(session, dossier.catalog_version)
    agency = catalog.agencies[dossier.agency_code]
    allowed = {(agency.desk_department, agency.desk_role), (agency.desk_department, HEAD_ROLE)}
    reached = await repo.reached_steps(session, dossier.code)
    for step in catalog.procedures[dossier.procedure_code].steps:
        if step.key in reached or step.key == dossier.step_key:
            allowed |= {(step.department, step.role), (step.department, HEAD_ROLE)}
    return allowed | await repo.consulted(session, dossier.code)


async def is_desk(
    ctx: AppContext, session: AsyncSession, dossier: Dossier, official: TokenClaims
) -> bool:
    """The agency's one-stop desk, which takes in the applicant's papers and so sees them
    whole."""
    catalog = await ctx.pinned_catalog(session, dossier.catalog_version)
    return official.department == catalog.agencies[dossier.agency_code].desk_department


def desk_agency(catalog: LoadedCatalog, official: TokenClaims) -> Agency | None:
    """The agency at whose one-stop desk the official works (its desk department and role),
    or None."""
    for agency in catalog.catalog.agencies:
        if (agency.desk_department, agency.desk_role) == (official.department, official.role):
            return agency
    return None


def check_may_register(
    ctx: AppContext, procedure_code: str, channel: Channel, official: TokenClaims | None
) -> None:
    """Anyone may submit online; a dossier brought to the counter or arriving by post is
    registered by the one-stop desk of the procedure's agency (401 without a login, 403 for
    anyone else)."""
    if channel == Channel.ONLINE:
        return
    if official is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=f"a {channel} dossier is registered by the one-stop desk: log in",
            headers={"WWW-Authenticate": "Bearer"},
        )
    procedure = ctx.catalog.procedures.get(procedure_code)
    desk = desk_agency(ctx.catalog, official)
    if procedure is not None and (desk is None or desk.code != procedure.agency):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"a {channel} dossier of procedure {procedure_code} is registered by the "
            f"one-stop desk of agency {procedure.agency}",
        )


async def load_for_official(
    ctx: AppContext, session: AsyncSession, code: str, official: TokenClaims
) -> Dossier:
    dossier = await repo.get_dossier(session, code) if is_dossier_code(code) else None
    if dossier is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no dossier {code}")
    if (official.department, official.role) not in await who_may_see(ctx, session, dossier):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"department {official.department}, role {official.role} has no part in "
            f"dossier {code} (yet)",
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

"""Typed dependencies for the routes."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Cookie, Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from api.context import AppContext
from api.security import TokenClaims, read_token
from domain.dossier import OPERATOR_ROLE


def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


ContextDep = Annotated[AppContext, Depends(get_context)]


async def get_session(ctx: ContextDep) -> AsyncIterator[AsyncSession]:
    async with ctx.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]

_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


async def token_official(ctx: AppContext, token: str | None) -> TokenClaims | None:
    """The official a token speaks for, or None: the one rule for the bearer token, the pages'
    session cookie and the codec cookie. The token must be ours, unexpired, and carry the
    official's current token version: one deactivated, moved to another department or role,
    or saved with a new password since it was issued is refused (at most TOKEN_CHECK_SECONDS
    later, which is how long a process trusts the version it last read)."""
    if not token:
        return None
    claims = read_token(token, ctx.settings.jwt_secret.get_secret_value())
    if claims is None or await ctx.token_version(claims.username) != claims.version:
        return None
    return claims


async def optional_official(
    ctx: ContextDep, token: Annotated[str | None, Depends(_bearer)]
) -> TokenClaims | None:
    """The official behind the bearer token, None without one; a bad token is a 401."""
    if token is None:
        return None
    claims = await token_official(ctx, token)
    if claims is None:
        raise _unauthorized("invalid, expired or revoked token")
    return claims


OptionalOfficialDep = Annotated[TokenClaims | None, Depends(optional_official)]


def current_official(official: OptionalOfficialDep) -> TokenClaims:
    if official is None:
        raise _unauthorized("this needs an official's bearer token (POST /api/v1/auth/token)")
    return official


OfficialDep = Annotated[TokenClaims, Depends(current_official)]

# The applicant's credential: the key printed on the receipt, with the dossier's code.
_lookup_key = APIKeyHeader(
    name="X-Lookup-Key",
    scheme_name="LookupKey",
    description="The key from the receipt (the applicant's)",
    auto_error=False,
)
LookupKeyDep = Annotated[str | None, Depends(_lookup_key)]


# The operator's token as a cookie, for the Temporal Web UI's calls to the payload codec
# (`POST /api/v1/auth/token?codec_cookie=true` sets it).
CODEC_COOKIE = "motcua_codec"


async def codec_cookie_official(
    ctx: ContextDep,
    cookie: Annotated[str | None, Cookie(alias=CODEC_COOKIE, include_in_schema=False)] = None,
) -> TokenClaims | None:
    return await token_official(ctx, cookie)


def current_operator(
    official: OptionalOfficialDep,
    by_cookie: Annotated[TokenClaims | None, Depends(codec_cookie_official)] = None,
) -> TokenClaims:
    official = official or by_cookie
    if official is None:
        raise _unauthorized("this needs an operator's bearer token or codec cookie")
    if official.role != OPERATOR_ROLE:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="this is for operators")
    return official


OperatorDep = Annotated[TokenClaims, Depends(current_operator)]

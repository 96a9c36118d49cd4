from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from api import throttle
from api.audit import entry_by
from api.deps import CODEC_COOKIE, ContextDep, SessionDep
from api.schemas import Token
from api.security import TokenClaims, issue_token, verify_password
from api.throttle import login_limit
from store.audit import append
from store.officials import get_official

router = APIRouter(prefix="/api/v1/auth", tags=["officials"])


@router.post("/token", response_model=Token, responses={401: {}, 429: {}})
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    response: Response,
    ctx: ContextDep,
    session: SessionDep,
    codec_cookie: Annotated[
        bool,
        Query(
            description="Also set the token as a cookie for the payload codec, so that the "
            "Temporal Web UI (which calls /codec from the operator's browser) may use it"
        ),
    ] = False,
) -> Token:
    # A name PostgreSQL could not even store cannot be an official's.
    storable = form.username.isprintable()
    name = form.username[:64] if storable else "?"
    limit = login_limit(ctx.settings)
    await throttle.check(ctx.sessionmaker, limit, f"user:{name}")
    official = await get_official(session, form.username) if storable else None
    if official is None or not verify_password(official.password_hash, form.password):
        # Failed logins are kept (by the name tried), for the security office to see.
        await throttle.failed(ctx.sessionmaker, limit, f"user:{name}")
        await append(ctx.sessionmaker, entry_by(request, name, "unknown", "login_failed"))
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="wrong username or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    await append(ctx.sessionmaker, entry_by(request, official.username, official.role, "login"))
    ttl = timedelta(minutes=ctx.settings.token_ttl_minutes)
    claims = TokenClaims(official.username, official.department, official.role)
    token = issue_token(claims, ctx.settings.jwt_secret.get_secret_value(), ttl)
    if codec_cookie:
        response.set_cookie(
            CODEC_COOKIE,
            token,
            max_age=int(ttl.total_seconds()),
            path="/codec",
            httponly=True,
            samesite="lax",
            secure=ctx.settings.public_base_url.startswith("https://"),
        )
    return Token(
        access_token=token,
        expires_in=int(ttl.total_seconds()),
        department=official.department,
        role=official.role,
    )

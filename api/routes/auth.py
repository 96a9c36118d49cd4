from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from api import operations
from api.deps import CODEC_COOKIE, ContextDep, SessionDep
from api.schemas import Token
from api.security import issue_token

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
    claims = await operations.log_in(ctx, session, request, form.username, form.password)
    ttl = timedelta(minutes=ctx.settings.token_ttl_minutes)
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
        department=claims.department,
        role=claims.role,
    )

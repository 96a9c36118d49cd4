from fastapi import APIRouter, HTTPException, status

from api.deps import ContextDep
from api.schemas import ProcedurePublic
from domain.catalog import Procedure

router = APIRouter(prefix="/api/v1/procedures", tags=["procedures"])


def _public(procedure: Procedure) -> ProcedurePublic:
    return ProcedurePublic.model_validate(procedure.model_dump())


@router.get("", response_model=list[ProcedurePublic])
async def list_procedures(ctx: ContextDep) -> list[ProcedurePublic]:
    return [_public(p) for p in ctx.catalog.catalog.procedures]


@router.get("/{code}", response_model=ProcedurePublic, responses={404: {}})
async def get_procedure(code: str, ctx: ContextDep) -> ProcedurePublic:
    procedure = ctx.catalog.procedures.get(code)
    if procedure is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no procedure {code}")
    return _public(procedure)

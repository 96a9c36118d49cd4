from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile, status

from api import operations
from api.deps import ContextDep, OptionalOfficialDep, SessionDep
from api.schemas import FilePublic

router = APIRouter(prefix="/api/v1/files", tags=["files"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=FilePublic,
    responses={
        400: {"description": "not a readable multipart form"},
        401: {},
        413: {},
        415: {},
        422: {},
        429: {"description": "too many uploads from this address lately (not for officials)"},
    },
)
async def upload_file(
    # An empty file is refused (422): the schema says so too.
    file: Annotated[UploadFile, File(json_schema_extra={"minLength": 1})],
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    official: OptionalOfficialDep,
) -> FilePublic:
    """Upload one component of a dossier (PDF, JPEG, PNG or TIFF, told by its content); submit
    the returned `file_id` with the dossier. Stored under a generated name, outside anything
    served directly, with its SHA-256. A file no dossier takes within a day is deleted."""
    return await operations.upload(ctx, session, request, file, official)

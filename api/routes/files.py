from fastapi import APIRouter, Request, UploadFile, status

from api import operations
from api.deps import ContextDep, SessionDep
from api.schemas import FilePublic

router = APIRouter(prefix="/api/v1/files", tags=["files"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=FilePublic,
    responses={400: {"description": "not a readable multipart form"}, 413: {}, 415: {}, 422: {}},
)
async def upload_file(
    file: UploadFile, request: Request, ctx: ContextDep, session: SessionDep
) -> FilePublic:
    """Upload one component of a dossier (PDF, JPEG, PNG or TIFF, told by its content); submit
    the returned `file_id` with the dossier. Stored under a generated name, outside anything
    served directly, with its SHA-256."""
    return await operations.upload(ctx, session, request, file)

import hashlib
import uuid

from fastapi import APIRouter, HTTPException, Request, UploadFile, status

from api.audit import entry
from api.deps import ContextDep, SessionDep
from api.errors import unprocessable
from api.schemas import FilePublic
from domain.attachments import ALLOWED, detect_content_type
from store.audit import append
from store.models import StoredFile

router = APIRouter(prefix="/api/v1/files", tags=["files"])

_CHUNK = 1024 * 1024


def _displayable(filename: str | None) -> str | None:
    """The client's file name, kept for display only: printable characters, 255 at most."""
    kept = "".join(c for c in filename or "" if c.isprintable())[:255]
    return kept or None


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
    limit = ctx.settings.max_upload_bytes
    file_id = uuid.uuid4()
    storage_name = file_id.hex  # never the client's name
    folder = ctx.settings.files_dir
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / storage_name
    digest, size = hashlib.sha256(), 0
    content_type = None
    try:
        with path.open("wb") as out:
            while chunk := await file.read(_CHUNK):
                if size == 0:
                    content_type = detect_content_type(chunk)
                    if content_type is None:
                        raise HTTPException(
                            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                            detail=f"not a file of an accepted type ({', '.join(ALLOWED)}), "
                            "judged by its content",
                        )
                size += len(chunk)
                if size > limit:
                    raise HTTPException(
                        413,
                        detail=f"file is larger than {limit} bytes",
                    )
                digest.update(chunk)
                out.write(chunk)
        if content_type is None:
            raise unprocessable("file is empty", "file")
        session.add(
            StoredFile(
                id=file_id,
                sha256=digest.hexdigest(),
                size=size,
                content_type=content_type,
                storage_name=storage_name,
                original_name=_displayable(file.filename),
            )
        )
        await session.commit()
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    upload = entry(request, "upload", None, detail={"file_id": str(file_id), "size": size})
    await append(ctx.sessionmaker, upload)
    return FilePublic(
        file_id=file_id, sha256=digest.hexdigest(), size=size, content_type=content_type
    )

"""Receiving one component's file: its type judged by its content, its size capped while it
streams in, stored under a generated name outside anything served directly."""

import hashlib
import uuid

from fastapi import HTTPException, UploadFile, status
from sqlalchemy.ext.asyncio import AsyncSession

from api.context import AppContext
from api.errors import unprocessable
from api.schemas import FilePublic
from domain.attachments import ALLOWED, detect_content_type
from store.models import StoredFile

_CHUNK = 1024 * 1024


def _displayable(filename: str | None) -> str | None:
    """The client's file name, kept for display only: printable characters, 255 at most."""
    kept = "".join(c for c in filename or "" if c.isprintable())[:255]
    return kept or None


async def receive_upload(ctx: AppContext, session: AsyncSession, file: UploadFile) -> FilePublic:
    """The stored file; 415 for a type not accepted, 413 past the size limit, 422 if empty.
    Nothing is left behind by a refused file."""
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
                    raise HTTPException(413, detail=f"file is larger than {limit} bytes")
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
    return FilePublic(
        file_id=file_id, sha256=digest.hexdigest(), size=size, content_type=content_type
    )

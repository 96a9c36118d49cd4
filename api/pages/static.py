"""The pages' static files (one stylesheet, one small script, two font subsets), cached for a
year: their URLs carry their content's fingerprint (`render.static_url`)."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from fastapi.responses import FileResponse

from api.pages.render import STATIC

router = APIRouter(include_in_schema=False)

_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".woff2": "font/woff2",
    ".svg": "image/svg+xml",
}


@router.get("/static/{name}")
async def static_file(
    name: Annotated[str, Path(pattern=r"^[a-z0-9-]+\.[a-z0-9]+$")],
) -> FileResponse:
    path = STATIC / name
    media_type = _TYPES.get(path.suffix)
    if media_type is None or not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such file")
    return FileResponse(
        path,
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )

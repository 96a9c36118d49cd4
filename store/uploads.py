"""Uploads no dossier took: anyone may upload, so a file not submitted within a day (a form
left half done, or uploads made only to fill the disk) is deleted."""

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def delete_unattached(
    session: AsyncSession, uploaded_before: datetime, batch: int
) -> list[str]:
    """Delete the rows of up to `batch` files uploaded before `uploaded_before` that no dossier
    lists among its documents; their storage names, for the caller to remove from the disk
    once this is committed. A file a submission is taking right now is locked by it
    (`existing_file_ids`) and passed over; a submission coming after finds it gone (422)."""
    deleted = await session.scalars(
        text(
            "DELETE FROM files WHERE id IN ("
            " SELECT f.id FROM files f"
            " WHERE f.created_at < :before AND NOT EXISTS ("
            "  SELECT FROM dossiers d CROSS JOIN LATERAL jsonb_array_elements(d.documents) doc"
            "  WHERE doc ->> 'file_id' = f.id::text)"
            " ORDER BY f.created_at LIMIT :batch"
            " FOR UPDATE OF f SKIP LOCKED)"
            " RETURNING storage_name"
        ),
        {"before": uploaded_before, "batch": batch},
    )
    return list(deleted)

"""Deleting the uploads no dossier took, for UnattachedUploadsWorkflow (every hour)."""

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio import activity

from store.db import Sessionmaker
from store.uploads import delete_unattached

# How long an upload waits for its dossier: a form filled in over an evening still finds its
# files the next morning; the form says when one is gone.
KEPT_FOR = timedelta(days=1)
_BATCH = 500


@dataclass
class UploadSweepResult:
    deleted: int


class UploadActivities:
    def __init__(self, sessionmaker: Sessionmaker, files_dir: Path) -> None:
        self._sessionmaker = sessionmaker
        self._files_dir = files_dir

    @activity.defn
    async def delete_unattached_uploads(self) -> UploadSweepResult:
        """Every file uploaded more than KEPT_FOR ago that no dossier lists: its row, then its
        bytes. Run again, it deletes what is left (nothing, when the last run finished). The
        bytes go once their rows' deletion is committed: a crash in between leaves bytes no
        row names (never served), rather than a row whose file is gone."""
        uploaded_before = datetime.now(UTC) - KEPT_FOR
        deleted = 0
        while True:
            async with self._sessionmaker.begin() as session:
                names = await delete_unattached(session, uploaded_before, _BATCH)
            await asyncio.to_thread(self._remove, names)
            deleted += len(names)
            activity.heartbeat(deleted)
            if len(names) < _BATCH:
                return UploadSweepResult(deleted)

    def _remove(self, names: list[str]) -> None:
        for name in names:
            (self._files_dir / name).unlink(missing_ok=True)

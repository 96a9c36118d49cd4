"""Issued documents as PDFs: rendered from the context fixed at issue, on first read, and then
kept with their SHA-256, so every later read serves the same bytes."""

import asyncio
import hashlib
import uuid
from collections import defaultdict
from datetime import timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from domain.documents import context_from_json, render_document
from domain.dossier import DocumentKind
from store import dossiers as repo
from store.models import Document

log = structlog.get_logger()

# Rendering takes about a tenth of a second of CPU: a few at a time, off the event loop, and
# each document once however many ask for it together, in this process or another.
_rendering = asyncio.Semaphore(2)
_first_reads: defaultdict[uuid.UUID, asyncio.Lock] = defaultdict(asyncio.Lock)
# How long a claim to render a document holds: the process that took it may have died since.
RENDERING_CLAIM = timedelta(seconds=30)
# How often a reader waiting for another process's rendering looks whether it is done.
_WAITING_POLL_SECONDS = 0.05


async def rendered(session: AsyncSession, document: Document) -> Document:
    """`document` with its PDF, rendering it if this is its first read."""
    if document.content is not None:
        return document
    document_id = document.id
    # The other readers in this process wait here, off the database.
    async with _first_reads[document_id]:
        document = await _rendered_once(session, document_id)
    _first_reads.pop(document_id, None)
    return document


async def _rendered_once(session: AsyncSession, document_id: uuid.UUID) -> Document:
    """The reader whose claim on the document succeeds renders it; the others (in other API
    processes) wait for its bytes. No database connection is held while waiting or rendering."""
    while True:
        await session.rollback()
        document = await session.get_one(Document, document_id, populate_existing=True)
        if document.content is not None:
            return document
        assert document.context is not None, f"document {document_id} has no context"
        kind, context = DocumentKind(document.kind), context_from_json(document.context)
        async with _rendering:
            if await repo.claim_rendering(session, document_id, RENDERING_CLAIM):
                pdf = await asyncio.to_thread(render_document, kind, context)
                # A claim taken over from a process that was only slow: kept once all the same.
                digest = hashlib.sha256(pdf.content).hexdigest()
                await repo.store_rendered(session, document_id, pdf.content, digest)
                await session.commit()
                log.info("document rendered", document_id=str(document_id), kind=kind.value)
                continue
        await asyncio.sleep(_WAITING_POLL_SECONDS)

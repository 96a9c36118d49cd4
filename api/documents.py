"""Issued documents as PDFs: rendered from the context fixed at issue, on first read, and then
kept with their SHA-256, so every later read serves the same bytes."""

import asyncio
import hashlib
import uuid
from collections import defaultdict

from sqlalchemy.ext.asyncio import AsyncSession

from domain.documents import context_from_json, render_document
from domain.dossier import DocumentKind
from store import dossiers as repo
from store.models import Document

# Rendering takes about a tenth of a second of CPU: a few at a time, off the event loop, and
# each document once however many ask for it together.
_rendering = asyncio.Semaphore(2)
_first_reads: defaultdict[uuid.UUID, asyncio.Lock] = defaultdict(asyncio.Lock)


async def rendered(session: AsyncSession, document: Document) -> Document:
    """`document` with its PDF, rendering it if this is its first read."""
    if document.content is not None:
        return document
    document_id = document.id
    async with _first_reads[document_id]:
        # No database connection is held while waiting or rendering.
        await session.rollback()
        document = await session.get_one(Document, document_id, populate_existing=True)
        if document.content is None:
            assert document.context is not None, f"document {document_id} has no context"
            kind, context = DocumentKind(document.kind), context_from_json(document.context)
            await session.rollback()
            async with _rendering:
                pdf = await asyncio.to_thread(render_document, kind, context)
            # Another API process may have stored it meanwhile: the same bytes, kept once.
            digest = hashlib.sha256(pdf.content).hexdigest()
            await repo.store_rendered(session, document_id, pdf.content, digest)
            await session.commit()
            document = await session.get_one(Document, document_id, populate_existing=True)
    _first_reads.pop(document_id, None)
    return document

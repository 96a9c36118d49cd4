"""Issued documents as PDFs: rendered from the context fixed at issue, on first read, and then
kept with their SHA-256, so every later read serves the same bytes."""

import asyncio
import hashlib

from sqlalchemy.ext.asyncio import AsyncSession

from domain.documents import context_from_json, render_document
from domain.dossier import DocumentKind
from store import dossiers as repo
from store.models import Document


async def rendered(session: AsyncSession, document: Document) -> Document:
    """`document` with its PDF, rendering it if this is its first read."""
    if document.content is not None:
        return document
    assert document.context is not None, f"document {document.id} has neither PDF nor context"
    context = context_from_json(document.context)
    # About a tenth of a second of CPU: off the event loop the other requests share.
    pdf = await asyncio.to_thread(render_document, DocumentKind(document.kind), context)
    # Two first reads at once render the same bytes; the first to store them wins.
    await repo.store_rendered(
        session, document.id, pdf.content, hashlib.sha256(pdf.content).hexdigest()
    )
    await session.commit()
    await session.refresh(document)
    return document

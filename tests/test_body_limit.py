"""Request bodies are capped at the edge, per route: a declared length past the limit is refused
before a byte is read, a chunked or lying body is cut off once past it; 413 in the app's JSON,
or as a page on the pages."""

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import func, select

from api.main import create_app
from motcua.settings import Settings
from store.db import Sessionmaker
from store.models import StoredFile
from tests.conftest import Stack
from tests.dossier_pages import COPY, PDF, open_form

CALLBACK = "/api/v1/payments/callback"
MiB = 1024 * 1024


@dataclass
class Sender:
    """A request body that would take gigabytes, counting what the server pulled of it."""

    total: int
    chunk: int = MiB
    pulled: int = 0

    async def body(self) -> AsyncIterator[bytes]:
        while self.pulled < self.total:
            self.pulled += self.chunk
            yield b"0" * self.chunk


def _stored(settings: Settings) -> set[Path]:
    folder = settings.files_dir
    return set(folder.iterdir()) if folder.exists() else set()


@asynccontextmanager
async def _api(settings: Settings, **limits: int) -> AsyncIterator[httpx.AsyncClient]:
    """An API of its own, in process (its body read only as the app pulls it)."""
    app = create_app(settings.model_copy(update=limits))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


async def test_a_2gb_callback_is_refused_without_being_read(
    settings: Settings, stack: Stack, http: httpx.AsyncClient
) -> None:
    declared = {"Content-Length": str(2 * 1024 * MiB), "Content-Type": "application/json"}
    async with _api(settings) as api:
        sender = Sender(total=2 * 1024 * MiB)
        r = await api.post(CALLBACK, content=sender.body(), headers=declared)
        assert r.status_code == 413
        assert r.json() == {"detail": "the request body is larger than 65536 bytes"}
        assert r.headers["Connection"] == "close"
        assert sender.pulled == 0  # not a byte read
    # Over a real socket, to the running server: the connection is closed at once rather than
    # drained (uvicorn would read, and throw away, all 2 GB to take the next request).
    sender = Sender(total=2 * 1024 * MiB)
    started = time.monotonic()
    try:
        r = await http.post(CALLBACK, content=sender.body(), headers=declared)
        assert r.status_code == 413
    except httpx.TransportError:
        pass  # the close may reach the client before it reads the 413 (a reset drops it)
    assert time.monotonic() - started < 10
    # What the client pushed into the sockets' buffers before it heard: nowhere near 2 GB.
    assert sender.pulled < 64 * MiB


async def test_a_chunked_or_lying_body_is_cut_off_at_the_limit(
    settings: Settings, stack: Stack
) -> None:
    # Headers a callback needs before its route reads the body (which it then refuses).
    gateway = {"X-Gateway-Timestamp": "1", "X-Gateway-Signature": "x"}
    async with _api(settings) as api:
        # No length (chunked): counted as it streams, cut off past 64 KiB.
        sender = Sender(total=2 * 1024 * MiB, chunk=16 * 1024)
        r = await api.post(CALLBACK, content=sender.body(), headers=gateway)
        assert r.status_code == 413, r.text
        assert r.json()["detail"] == "the request body is larger than 65536 bytes"
        assert r.headers["Connection"] == "close"
        assert sender.pulled <= 64 * 1024 + sender.chunk
        # A length that lies: the bytes are counted, not the header.
        sender = Sender(total=2 * 1024 * MiB, chunk=16 * 1024)
        lying = {**gateway, "Content-Length": "10"}
        r = await api.post(CALLBACK, content=sender.body(), headers=lying)
        assert r.status_code == 413
        assert sender.pulled <= 64 * 1024 + sender.chunk
        # JSON anywhere else: the same small limit, declared or not.
        big = b'{"procedure_code": "' + b"x" * 70_000 + b'"}'
        r = await api.post("/api/v1/dossiers", content=big)
        assert r.status_code == 413


async def test_an_upload_of_21_mib_is_refused_and_leaves_nothing(
    settings: Settings, stack: Stack, sessionmaker: Sessionmaker
) -> None:
    async with sessionmaker() as session:
        files_before = await session.scalar(select(func.count()).select_from(StoredFile)) or 0
    on_disk = _stored(settings)
    async with _api(settings) as api:
        big = PDF + b"0" * (21 * MiB)
        r = await api.post("/api/v1/files", files={"file": ("big.pdf", big, "application/pdf")})
        assert r.status_code == 413
        assert r.json() == {
            "detail": f"the request body is larger than {20 * MiB + 64 * 1024} bytes"
        }
        # Chunked: cut off once 20 MiB and the form's headers have come in.
        sender = Sender(total=21 * MiB, chunk=64 * 1024)
        boundary = "b0undary"
        head = (
            f"--{boundary}\r\nContent-Disposition: form-data; name=file; filename=big.pdf\r\n"
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()

        async def multipart() -> AsyncIterator[bytes]:
            yield head + PDF
            async for chunk in sender.body():
                yield chunk

        content_type = f"multipart/form-data; boundary={boundary}"
        r = await api.post(
            "/api/v1/files", content=multipart(), headers={"Content-Type": content_type}
        )
        assert r.status_code == 413
        assert sender.pulled <= 20 * MiB + 64 * 1024 + sender.chunk
        # 20 MiB itself is taken.
        exactly = PDF + b"0" * (20 * MiB - len(PDF))
        r = await api.post("/api/v1/files", files={"file": ("ok.pdf", exactly, "application/pdf")})
        assert r.status_code == 201, r.text
    async with sessionmaker() as session:
        assert (
            await session.scalar(select(func.count()).select_from(StoredFile)) == files_before + 1
        )
    assert len(_stored(settings) - on_disk) == 1


async def test_a_page_form_too_large_gets_a_page(settings: Settings, stack: Stack) -> None:
    """The dossier form carries a file per component: up to MAX_UPLOAD_BYTES each (the
    largest procedure has three); past that, the page says so in Vietnamese."""
    async with _api(settings, max_upload_bytes=MiB) as api:
        base = f"/thu-tuc/{COPY}/nop-ho-so"
        keys = await open_form(api, base)
        # Two files' worth in one: within the form's limit, refused by the file's own (422).
        files = {"file-BC": ("ban-chinh.pdf", PDF + b"0" * (2 * MiB), "application/pdf")}
        r = await api.post(base, data=keys, files=files)
        assert r.status_code == 422
        # Past three files' worth: refused at the edge, unread.
        sender = Sender(total=4 * MiB)
        headers = {
            "Content-Length": str(sender.total),
            "Content-Type": "multipart/form-data; boundary=x",
        }
        r = await api.post(base, content=sender.body(), headers=headers)
        assert r.status_code == 413
        assert r.headers["content-type"].startswith("text/html")
        assert "Nội dung gửi lên quá lớn" in r.text
        # The way on is back to the form, not the home page.
        assert f'<a href="{base}">Quay lại</a>' in r.text
        assert sender.pulled == 0

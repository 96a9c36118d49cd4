"""The production shape on one machine: `motcua run` with WORKERS=2 API_PROCESSES=2 against a
standalone PostgreSQL and a Temporal server it did not start. The work is shared by both
workers; what must hold across API processes holds (throttling, Idempotency-Key, a document
rendered once); migrations started twice at once apply once; and a process that dies is
started again while the rest go on serving."""

import asyncio
import contextlib
import os
import re
import signal
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import pytest
from sqlalchemy import make_url
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from motcua import embedded
from motcua.cli import DEMO_PASSWORD
from motcua.settings import Settings, fresh_secrets
from store.migrate import _LOCK_ID as MIGRATIONS_LOCK
from tests.client import DESK, ApiClient
from tests.conftest import free_port
from tests.test_processes import TEMPORAL_PORTS, Running, _act, _alive
from workflows import search_attributes as sa

ROOT = Path(__file__).resolve().parent.parent
HKD = "1.001612"  # household business: accepted by the desk, then a KT specialist's step
SPECIALIST = "kt.specialist"
IDENTITY = re.compile(r"^(worker-\d)@[^:]+:(\d+)$")


# --- databases on a standalone server ---------------------------------------------------------


@pytest.fixture(scope="module")
def new_database(database_url: str) -> Iterator[Callable[[], str]]:
    """Fresh databases on the session's PostgreSQL server (DATABASE_URL's, e.g. the machine's
    own on 5432, or else the embedded one): a server `motcua run` neither starts nor stops.
    Dropped at the end."""
    server = make_url(database_url).set(drivername="postgresql")
    admin = server.set(database="postgres").render_as_string(hide_password=False)
    created: list[str] = []

    def create() -> str:
        name = f"motcua_mp_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        created.append(name)
        return server.set(database=name).render_as_string(hide_password=False)

    yield create
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in created:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _run_env(
    data_dir: Path, database_url: str, temporal_address: str, **extra: str
) -> dict[str, str]:
    """`motcua run`'s environment: none of our settings from this one, a task queue of its
    own (no other test's worker takes its tasks), free ports, JSON logs."""
    api_port = free_port()
    metrics_port = free_port()
    while not embedded.port_is_free(metrics_port + 1):  # worker-2's is the next one
        metrics_port = free_port()
    return {
        **{k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields},
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": temporal_address,
        "TEMPORAL_TASK_QUEUE": f"mp-{uuid.uuid4().hex[:8]}",
        "DATA_DIR": str(data_dir),
        "API_PORT": str(api_port),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{api_port}",
        "WORKER_METRICS_ADDRESS": f"127.0.0.1:{metrics_port}",
        "LOG_FORMAT": "json",
        # Not the embedded demo: real secrets, or `motcua run` refuses to start.
        **fresh_secrets("mp"),
        # Nor a real gateway's merchant account: the sandbox's, allowed, as no fee here is real.
        "PAYMENT_GATEWAY": "sandbox",
        "SANDBOX_GATEWAY_ALLOWED": "true",
        **extra,
    }


async def _add_officials(env: dict[str, str]) -> None:
    """The officials the tests log in as: on servers of its own, `motcua run` makes none up
    (the demo's have a public password), so they are added as an operator would."""
    for username, department, role in (
        (DESK, "BPMC", "desk_officer"),
        (SPECIALIST, "KT", "specialist"),
    ):
        added = await Running.start(
            embedded.venv_binary("motcua"), "official", "add", username,
            "--department", department, "--role", role, "--password", DEMO_PASSWORD, env=env,
        )  # fmt: skip
        assert await added.proc.wait() == 0, added.output


async def _started(env: dict[str, str], workers: int) -> Running:
    """`motcua run` in a session of its own, once it printed its banner and its workers
    started."""
    run = await Running.start(embedded.venv_binary("motcua"), "run", env=env, new_session=True)
    async with run.killed_on_failure(group=True):
        await run.wait_until("banner", lambda: run.printed("motcua is running"), 90)
        await run.wait_until(
            f"{workers} × 'worker started'",
            lambda: len(run.logged("worker started")) >= workers,
            60,
        )
    return run


def _children(run: Running, part: str) -> list[psutil.Process]:
    """`motcua run`'s running children whose command line holds `part`."""
    found = []
    for proc in psutil.Process(run.proc.pid).children():
        with contextlib.suppress(psutil.NoSuchProcess):
            if part in " ".join(proc.cmdline()) and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


async def _stopped(run: Running) -> None:
    """SIGTERM: exit code 0, and none of its children left."""
    children = psutil.Process(run.proc.pid).children(recursive=True)
    assert await run.stop(signal.SIGTERM, within=20) == 0, run.output
    for _ in range(50):
        if not _alive(children):
            break
        await asyncio.sleep(0.1)
    assert not _alive(children), run.output


# --- one API process in particular ------------------------------------------------------------


def _our_end(response: httpx.Response) -> tuple[str, int]:
    return tuple(response.extensions["network_stream"].get_extra_info("client_addr"))


@dataclass
class OneProcess:
    """An HTTP connection to one API process in particular. They all accept on one socket, so
    a new connection goes to whichever takes it first: with the others frozen (SIGSTOP), that
    is this one, and the connection stays with it while kept alive (uvicorn: 5 s idle)."""

    http: httpx.AsyncClient
    ours: tuple[str, int]

    @classmethod
    async def open(
        cls, base_url: str, process: psutil.Process, others: list[psutil.Process]
    ) -> "OneProcess":
        http = httpx.AsyncClient(
            base_url=base_url, timeout=30, limits=httpx.Limits(max_connections=1)
        )
        for other in others:
            other.suspend()
        try:
            r = await http.get("/healthz")
        finally:
            for other in others:
                other.resume()
        assert r.status_code == 200, r.text
        ours = _our_end(r)
        held = {c.raddr for c in process.net_connections("tcp") if c.raddr}
        assert ours in {(a.ip, a.port) for a in held}, f"{ours} not held by {process.pid}"
        return cls(http, ours)

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        r = await self.http.request(method, url, **kwargs)
        # A connection closed meanwhile would be replaced by one to any of the processes.
        assert _our_end(r) == self.ours, "the connection to the API process was not kept"
        return r


@contextlib.asynccontextmanager
async def _one_connection_each(shape: "Shape") -> AsyncIterator[tuple[OneProcess, OneProcess]]:
    first, second = _children(shape.run, "motcua.api_process")
    a = await OneProcess.open(shape.base_url, first, [second])
    b = await OneProcess.open(shape.base_url, second, [first])
    try:
        yield a, b
    finally:
        await a.http.aclose()
        await b.http.aclose()


# --- the stack: two workers, two API processes ------------------------------------------------


@dataclass
class Shape:
    run: Running
    env: dict[str, str]
    api: ApiClient  # through the shared port: any of the API processes
    temporal: Client

    @property
    def base_url(self) -> str:
        return self.env["PUBLIC_BASE_URL"]

    async def accepted(self) -> tuple[str, str]:
        """A dossier submitted and accepted by the desk: its code and lookup key."""
        created = await self.api.submit(HKD)
        await _act(self.api, created["code"], DESK, "accept")
        return created["code"], created["lookup_key"]


@pytest.fixture(scope="module")
async def standalone_temporal() -> AsyncIterator[WorkflowEnvironment]:
    """A Temporal server of this module's own: its new database hands out the dossier codes the
    session's server already knows from other tests' dossiers."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=embedded.venv_binary("temporal"), search_attributes=sa.ALL
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="module")
async def shape(
    new_database: Callable[[], str],
    standalone_temporal: WorkflowEnvironment,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Shape]:
    temporal = standalone_temporal.client
    env = _run_env(
        tmp_path_factory.mktemp("multiprocess"),
        new_database(),
        temporal.service_client.config.target_host,
        WORKERS="2",
        API_PROCESSES="2",
        # Long enough that the throttling test's tries after the free ones all wait.
        LOGIN_DELAY_SECONDS="600",
        # Every dossier's files come from this one test client.
        UPLOADS_PER_HOUR="10000",
    )
    await _add_officials(env)
    run = await _started(env, workers=2)
    try:
        for name in ("worker-1", "worker-2", "api-1", "api-2"):
            assert run.printed(f"    {name:<10} pid "), run.output
        assert run.printed("Officials: none are made up here"), run.output
        assert not run.printed("Demo officials"), run.output
        async with httpx.AsyncClient(base_url=env["PUBLIC_BASE_URL"], timeout=30) as http:
            api = ApiClient(http, DEMO_PASSWORD)
            # Logged in before the throttling test makes SPECIALIST's logins from here wait.
            for username in (DESK, SPECIALIST):
                await api.token(username)
            yield Shape(run, env, api, temporal)
    finally:
        await run.kill(group=True)


async def test_the_work_is_shared_by_both_workers(shape: Shape) -> None:
    """Twenty dossiers, each submitted, accepted and through its first review step: the
    histories name both workers (worker-1@host:pid, worker-2@host:pid) as having run workflow
    and activity tasks, each with the pid of one of the two worker processes."""
    api = shape.api

    async def through_first_step() -> str:
        code, _ = await shape.accepted()
        await _act(api, code, SPECIALIST, "approve")
        return code

    codes: list[str] = []
    for _ in range(4):
        codes += await asyncio.gather(*(through_first_step() for _ in range(5)))

    identities: set[str] = set()
    for code in codes:
        history = await shape.temporal.get_workflow_handle(code).fetch_history()
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                identities.add(event.workflow_task_completed_event_attributes.identity)
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                identities.add(event.activity_task_started_event_attributes.identity)
    named = [IDENTITY.match(identity) for identity in identities]
    assert all(named), identities
    workers = {p.pid: p for p in _children(shape.run, "worker.py")}
    by_name = {m.group(1): int(m.group(2)) for m in named if m}
    assert sorted(by_name) == ["worker-1", "worker-2"], identities
    for name, pid in by_name.items():
        assert f"--name {name}" in " ".join(workers[pid].cmdline()), identities


async def test_an_idempotency_key_sent_to_both_api_processes_at_once_makes_one_dossier(
    shape: Shape,
) -> None:
    """The same submission, with the same Idempotency-Key, sent to both API processes at the
    same moment (three times over): each time one dossier, both answers naming it, one of them
    a replay."""
    body = await shape.api.submission(HKD)
    async with _one_connection_each(shape) as (a, b):
        for _ in range(3):
            headers = {"Idempotency-Key": uuid.uuid4().hex}
            answers = await asyncio.gather(
                *(p.request("POST", "/api/v1/dossiers", json=body, headers=headers) for p in (a, b))
            )
            assert [r.status_code for r in answers] == [201, 201], [r.text for r in answers]
            assert answers[0].json()["code"] == answers[1].json()["code"]
            replayed = [r.headers.get("Idempotent-Replayed") for r in answers]
            assert sorted(replayed, key=str) == [None, "true"], replayed


async def test_a_document_asked_of_both_api_processes_at_once_is_rendered_once(
    shape: Shape,
) -> None:
    """The receipt (form 01), downloaded from both API processes at the same moment at its
    first download: the same bytes to both, and one rendering between them (each rendering
    logs `document rendered`)."""
    code, key = await shape.accepted()
    lookup = {"X-Lookup-Key": key}
    async with asyncio.timeout(20):
        while True:
            r = await shape.api.http.get(f"/api/v1/dossiers/{code}/documents", headers=lookup)
            receipts = [d for d in r.json() if d["kind"] == "receipt"]
            if receipts:
                break
            await asyncio.sleep(0.1)
    [receipt] = receipts
    assert receipt["sha256"] is None  # never downloaded yet

    def renderings() -> list[dict[str, Any]]:
        return [
            r for r in shape.run.logged("document rendered") if r["document_id"] == receipt["id"]
        ]

    async with _one_connection_each(shape) as (a, b):
        answers = await asyncio.gather(
            *(p.request("GET", receipt["url"], headers=lookup) for p in (a, b))
        )
    assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
    assert answers[0].content == answers[1].content
    assert answers[0].content.startswith(b"%PDF")
    await shape.run.wait_until("'document rendered'", renderings, 10)
    await asyncio.sleep(0.5)  # time for a second rendering's line to come, if there were one
    assert len(renderings()) == 1, renderings()


async def test_failed_logins_are_counted_across_api_processes(shape: Shape) -> None:
    """Failed logins alternate between the two API processes: the fifth, wherever it came,
    is the last free one (LOGIN_FAILURES_ALLOWED=5), and both processes then answer 429 until
    the delay (LOGIN_DELAY_SECONDS) has passed."""
    form = {"username": SPECIALIST, "password": "not the password"}
    async with _one_connection_each(shape) as (a, b):
        for process in (a, b, a, b, a):
            r = await process.request("POST", "/api/v1/auth/token", data=form)
            assert r.status_code == 401, r.text
        for process in (b, a):
            r = await process.request("POST", "/api/v1/auth/token", data=form)
            assert r.status_code == 429, r.text
            assert 0 < int(r.headers["Retry-After"]) <= 600


async def test_a_process_that_dies_is_started_again(shape: Shape) -> None:
    """A worker killed (SIGKILL) is logged and started again, under its name; an API process
    killed leaves the other serving the port meanwhile, and is started again too; dossiers
    still go through."""
    run = shape.run
    [worker] = [p for p in _children(run, "worker.py") if "worker-2" in p.cmdline()]
    worker.kill()
    await run.wait_until(
        "the worker's death logged",
        lambda: run.printed(f"worker-2 (pid {worker.pid}) was killed by SIGKILL; starting it"),
        10,
    )
    again = await run.wait_until(
        "worker-2 started again",
        lambda: re.search(r"worker-2 started again \(pid (\d+)\)", run.output),
        10,
    )
    pid = int(again.group(1))
    await run.wait_until(
        "its 'worker started'",
        lambda: [r for r in run.logged("worker started") if r["identity"].endswith(f":{pid}")],
        60,
    )

    api_process = _children(run, "motcua.api_process")[0]
    api_process.kill()
    for _ in range(10):  # new connections, all taken by the other API process
        async with httpx.AsyncClient(base_url=shape.base_url, timeout=10) as http:
            assert (await http.get("/healthz")).status_code == 200
    await run.wait_until(
        "the API process started again",
        lambda: (
            re.search(rf"api-\d \(pid {api_process.pid}\) was killed by SIGKILL", run.output)
            and len(_children(run, "motcua.api_process")) == 2
        ),
        10,
    )

    code, key = await shape.accepted()
    await _act(shape.api, code, SPECIALIST, "approve")
    await shape.api.wait_for_history(code, key, "approve")


async def test_sigterm_stops_every_process(shape: Shape) -> None:
    await _stopped(shape.run)
    assert shape.run.printed("• stopping"), shape.run.output


# --- migrations -------------------------------------------------------------------------------


async def test_migrations_started_twice_at_once_apply_once(
    new_database: Callable[[], str],
) -> None:
    """Two `motcua migrate` on a fresh database, both inside it at the same moment (they start
    while the migrations' lock is held, and both wait for it): both succeed, one applies every
    migration and the other none, and each is recorded once."""
    url = new_database()
    names = sorted(p.name for p in (ROOT / "store" / "migrations").glob("*.sql"))
    env = {
        **{k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields},
        "DATABASE_URL": url,
    }
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATIONS_LOCK,))
        runs = [
            await Running.start(embedded.venv_binary("motcua"), "migrate", env=env) for _ in "ab"
        ]

        async def both_waiting() -> bool:
            cursor = await conn.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
                " WHERE l.locktype = 'advisory' AND NOT l.granted"
                " AND d.datname = current_database()"
            )
            row = await cursor.fetchone()
            return row is not None and row[0] == 2

        await runs[0].wait_until("both waiting for the lock", both_waiting, 60)
        await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATIONS_LOCK,))
        codes = [await r.proc.wait() for r in runs]
        for r in runs:
            await r.kill()  # (already exited: collects the rest of its output)
        assert codes == [0, 0], [r.output for r in runs]
        outputs = sorted(r.lines[-1] for r in runs)
        assert outputs == [f"applied: {names}", "applied: nothing, up to date"], outputs
        cursor = await conn.execute("SELECT name FROM schema_migrations ORDER BY name")
        assert [row[0] for row in await cursor.fetchall()] == names


# --- the embedded Temporal --------------------------------------------------------------------


async def test_the_embedded_temporal_server_is_started_again(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    """`motcua run` starting its own Temporal dev server: killed, it is started again on the
    same file, and a dossier submitted before goes on."""
    busy = [port for port in TEMPORAL_PORTS if not embedded.port_is_free(port)]
    if busy:
        pytest.skip(f"`motcua run` needs ports {TEMPORAL_PORTS} for Temporal; {busy} in use")
    env = _run_env(tmp_path, new_database(), "")
    await _add_officials(env)
    run = await _started(env, workers=1)
    async with run.killed_on_failure(group=True):
        async with httpx.AsyncClient(base_url=env["PUBLIC_BASE_URL"], timeout=30) as http:
            api = ApiClient(http, DEMO_PASSWORD)
            created = await api.submit(HKD)
            [temporal] = _children(run, "temporal server start-dev")
            temporal.kill()
            await run.wait_until(
                "temporal started again",
                lambda: (
                    run.printed(f"temporal (pid {temporal.pid}) was killed by SIGKILL")
                    and run.printed("temporal started again")
                ),
                10,
            )
            await _act(api, created["code"], DESK, "accept")
            await api.wait_for(created["code"], created["lookup_key"], "review")
        await _stopped(run)

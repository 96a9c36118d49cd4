"""`motcua`: run the embedded stack, migrate, load the catalog, manage officials.

motcua run                      # the whole stack for development (what `make run` does)
motcua migrate                  # apply database migrations
motcua catalog load             # validate the catalog file and record its version
motcua official add USERNAME --department CODE --role ROLE --password PW
motcua official move USERNAME --department CODE --role ROLE
motcua official deactivate USERNAME   # no more logins (`official add` restores them)
motcua search-attributes        # register the search attributes on a Temporal cluster
motcua outbox [--dossier CODE]  # the applicants' notifications, newest first
motcua audit verify             # walk the audit trail's hash chain; name the first broken row
"""

import argparse
import asyncio
import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import NoReturn, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client

from api.security import hash_password
from domain.calendar import VN_TZ
from domain.catalog import CatalogError, LoadedCatalog, load_catalog
from domain.dossier import HEAD_ROLE, OPERATIONS, OPERATOR_ROLE
from motcua import embedded
from motcua.settings import ROOT, Settings, fresh_secrets, get_settings
from motcua.supervisor import Supervisor
from motcua.temporal import connect_temporal, leave
from store.audit import AuditEntry, append, first_broken_row
from store.catalog import record_catalog_version
from store.db import create_engine, create_sessionmaker
from store.dossiers import recent_notifications
from store.migrate import migrate
from store.officials import deactivate_official, move_official, upsert_official
from workflows import search_attributes as sa

T = TypeVar("T")
DEMO_PASSWORD = "motcua-demo"


def _run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


# The demo officials' names, as the back office shows them.
DEMO_NAMES = (
    "Nguyễn Thị Lan",
    "Trần Văn Minh",
    "Lê Thị Hồng",
    "Phạm Quốc Huy",
    "Hoàng Thị Mai",
    "Võ Văn Dũng",
    "Đặng Thị Thu",
    "Bùi Văn Nam",
    "Đỗ Thị Hạnh",
    "Huỳnh Văn Phúc",
    "Ngô Thị Yến",
    "Dương Văn Tài",
    "Lý Thị Ngọc",
)


def demo_officials(catalog: LoadedCatalog) -> list[tuple[str, str, str]]:
    """Two demo logins (`kt.specialist`, `kt.specialist2`) per department and role the
    catalog's desks, processes and consultations need, and a head for every department with a
    step (late steps are escalated to heads; a head may hand a step to another official), and
    an operator (`ops.operator`)."""
    steps = [s for p in catalog.catalog.procedures for s in p.steps]
    pairs = {(a.desk_department, a.desk_role) for a in catalog.catalog.agencies}
    pairs |= {(s.department, s.role) for s in steps}
    pairs |= {(s.department, HEAD_ROLE) for s in steps}
    pairs |= {(c.department, c.role) for s in steps for c in s.consults}
    pairs |= {(OPERATIONS, OPERATOR_ROLE)}
    return sorted(
        (f"{dept.lower()}.{role}{suffix}", dept, role)
        for dept, role in pairs
        for suffix in ("", "2")
    )


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """An engine for one command, disposed of at its end."""
    engine = create_engine(settings.require_database_url(), pool_size=2)
    try:
        yield engine
    finally:
        await engine.dispose()


async def prepare_database(settings: Settings, seed_demo: bool = False) -> LoadedCatalog:
    """Migrate, record the catalog version, and optionally seed the demo officials."""
    async with _database(settings) as engine:
        return await _prepare(engine, settings, seed_demo)


async def _prepare(engine: AsyncEngine, settings: Settings, seed_demo: bool) -> LoadedCatalog:
    catalog = load_catalog(settings.catalog_path)
    await migrate(engine)
    async with create_sessionmaker(engine).begin() as session:
        await record_catalog_version(session, catalog)
        if seed_demo:
            password_hash = hash_password(DEMO_PASSWORD)
            for i, (username, dept, role) in enumerate(demo_officials(catalog)):
                name = DEMO_NAMES[i % len(DEMO_NAMES)]
                await upsert_official(session, username, password_hash, dept, role, name)
    return catalog


async def register_search_attributes(settings: Settings) -> list[str]:
    client = await connect_temporal(settings)
    return await add_missing_search_attributes(client, settings.temporal_namespace)


def search_attribute_types() -> dict[str, "IndexedValueType.ValueType"]:
    return {
        key.name: IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{kind.upper()}")
        for key, kind in sa.CLI_TYPES.items()
    }


async def add_missing_search_attributes(client: Client, namespace: str) -> list[str]:
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    missing = {
        name: kind
        for name, kind in search_attribute_types().items()
        if name not in existing.custom_attributes
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)


def run_stack(settings: Settings) -> int:
    """Start everything and keep it running until Ctrl-C, then stop it all. Alone, for
    development, with embedded servers; with DATABASE_URL and TEMPORAL_ADDRESS set, WORKERS
    workers and API_PROCESSES API processes on those servers: the production shape, on one
    machine."""
    env = dict(os.environ)
    # Every server ours, holding nothing real: the demo, with its public secrets and officials,
    # paying through the sandbox gateway unless told otherwise. On external servers the
    # gateway is the operator's to configure (PAYMENT_GATEWAY).
    demo = not settings.database_url and not settings.temporal_address
    if demo:
        env.setdefault("DEMO_SECRETS", "true")
        env.setdefault("PAYMENT_GATEWAY", "sandbox")
    else:
        settings.refuse_demo_secrets()  # at once, not as every child's dying words
        settings.refuse_unusable_gateway()
    data = settings.data_dir
    supervisor = Supervisor()
    pg_server = None
    listener = _api_listener(settings)
    try:
        if not settings.database_url:
            print("• starting embedded PostgreSQL …", flush=True)
            pg_server, url = embedded.start_postgres(data / "pg")
            env["DATABASE_URL"] = settings.database_url = url
        if not settings.temporal_address:
            print("• starting Temporal dev server …", flush=True)
            # Started again on the same file if it dies: the dossiers' workflows are in it.
            supervisor.start(
                "temporal",
                partial(
                    embedded.start_temporal,
                    data / "temporal.db",
                    namespace=settings.temporal_namespace,
                    codec_endpoint=f"{settings.public_base_url}/codec",
                ),
                note=f"its log: {data / 'temporal.log'}",
            )
            embedded.wait_for_port(7233)
            env["TEMPORAL_ADDRESS"] = settings.temporal_address = "127.0.0.1:7233"
        else:
            _run(register_search_attributes(settings))
        catalog = _run(prepare_database(settings, seed_demo=demo))
        print(f"• database ready, catalog {catalog.version}", flush=True)

        python = sys.executable
        for n in range(1, settings.workers + 1):
            metrics = _worker_metrics_address(settings, n)
            command = [python, str(ROOT / "worker.py"), "--name", f"worker-{n}"]
            start = partial(_child, command, env | {"WORKER_METRICS_ADDRESS": metrics})
            supervisor.start(f"worker-{n}", start, f"metrics at {metrics}" if metrics else "")
        fd = listener.fileno()
        for n in range(1, settings.api_processes + 1):
            command = [python, "-m", "motcua.api_process", "--fd", str(fd)]
            start = partial(_child, command, env, pass_fds=(fd,))
            supervisor.start(f"api-{n}", start, f"serving {settings.api_host}:{settings.api_port}")
        _wait_for_api(settings, supervisor)
        _print_banner(settings, catalog, supervisor, demo)
        supervisor.run_until_stopped()
        print("\n• stopping …", flush=True)
        return 0
    except KeyboardInterrupt:
        print("\n• stopping …", flush=True)
        return 0
    finally:
        supervisor.stop_all()
        listener.close()
        if pg_server is not None:
            pg_server.cleanup()  # type: ignore[attr-defined]


def _api_listener(settings: Settings) -> socket.socket:
    """The API's port, opened here once and shared by every API process (motcua/api_process.py
    says why), so it stays open while one of them is restarted."""
    family = socket.AF_INET6 if ":" in settings.api_host else socket.AF_INET
    try:
        return socket.create_server(
            (settings.api_host, settings.api_port), family=family, backlog=2048
        )
    except OSError as exc:
        raise RuntimeError(
            f"port {settings.api_port} is in use: is motcua already running? "
            "(or set API_PORT and PUBLIC_BASE_URL)"
        ) from exc


def _child(
    command: list[str], env: dict[str, str], pass_fds: tuple[int, ...] = ()
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, env=env, cwd=ROOT, pass_fds=pass_fds)


def _worker_metrics_address(settings: Settings, n: int) -> str:
    """Worker n's metrics: on the port after worker n-1's (empty: none)."""
    if not settings.worker_metrics_address:
        return ""
    host, port = settings.worker_metrics_address.rsplit(":", 1)
    return f"{host}:{int(port) + n - 1}"


def _wait_for_api(settings: Settings, supervisor: Supervisor, seconds: float = 60) -> None:
    """Until an API process answers (the port itself is open from the start), restarting
    those that die meanwhile."""
    host = "127.0.0.1" if settings.api_host in ("0.0.0.0", "::") else settings.api_host
    url = f"http://{host if ':' not in host else f'[{host}]'}:{settings.api_port}/healthz"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # it answered (a dependency it checks may still be starting)
        except OSError:
            supervisor.watch()
            time.sleep(0.2)
    raise RuntimeError(f"no API process answered at {url} after {seconds:.0f} s (see above)")


def _demo_logins(catalog: LoadedCatalog) -> str:
    """One line per department; each login also has a twin ending in 2 (kt.specialist2)."""
    by_department: dict[str, list[str]] = {}
    for user, dept, _ in demo_officials(catalog):
        if not user.endswith("2"):
            by_department.setdefault(dept, []).append(user)
    return "\n".join(f"    {dept:<8} {', '.join(users)}" for dept, users in by_department.items())


def _print_banner(
    settings: Settings, catalog: LoadedCatalog, supervisor: Supervisor, demo: bool
) -> None:
    officials = (
        f"Demo officials (password: {DEMO_PASSWORD}; each has a twin ending in 2, e.g. "
        f"kt.specialist2):\n{_demo_logins(catalog)}"
        if demo
        else "Officials: none are made up here; add them with\n"
        "    motcua official add <username> --department … --role … --password …"
    )
    operator = "ops.operator" if demo else "an operator"
    processes = "\n".join(
        f"    {c.name:<10} pid {c.process.pid:<8} {c.note}".rstrip() for c in supervisor.children
    )
    print(
        f"""
motcua is running (Ctrl-C stops all of it).

  Portal         {settings.public_base_url}/          (applicants: procedures, submit, track)
  Back office    {settings.public_base_url}/can-bo    (officials; the leaders' figures too)
  API            {settings.public_base_url}/api/v1    (OpenAPI: {settings.public_base_url}/docs)
  Temporal UI    {settings.temporal_ui_url}
  Temporal gRPC  {settings.temporal_address}
  PostgreSQL     {settings.database_url}

  Processes (one that dies is logged and started again):
{processes}

  {officials}

  Payloads in Temporal are encrypted: to read them in the Web UI, log in as {operator} at
  {settings.public_base_url}/codec/login (and turn on "Include cross-origin credentials" in
  the UI's codec settings).
""",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="motcua", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="start the whole stack for development")
    sub.add_parser("migrate", help="apply database migrations")
    catalog_cmd = sub.add_parser("catalog", help="the procedure catalog")
    catalog_cmd.add_argument("action", choices=["load", "check"])
    catalog_cmd.add_argument("--file", type=Path, help="catalog file (default: CATALOG_PATH)")
    official = sub.add_parser("official", help="officials")
    official_sub = official.add_subparsers(dest="action", required=True)
    add = official_sub.add_parser("add", help="add or update an official")
    add.add_argument("username")
    add.add_argument("--department", required=True)
    add.add_argument("--role", required=True)
    add.add_argument("--password", required=True)
    move = official_sub.add_parser("move", help="to another department or role")
    move.add_argument("username")
    move.add_argument("--department", required=True)
    move.add_argument("--role", required=True)
    deactivate = official_sub.add_parser("deactivate", help="no more logins, sessions ended")
    deactivate.add_argument("username")
    sub.add_parser("search-attributes", help="register search attributes on Temporal")
    outbox = sub.add_parser("outbox", help="the applicants' notifications, newest first")
    outbox.add_argument("--dossier", help="only this dossier's")
    outbox.add_argument("--limit", type=int, default=20)
    audit = sub.add_parser("audit", help="the audit trail")
    audit.add_argument("action", choices=["verify"], help="walk the hash chain")
    sub.add_parser("secrets", help="print new random secrets, as shell exports")
    args = parser.parse_args(argv)

    if args.command == "secrets":
        key_id = datetime.now(UTC).strftime("%Y-%m")
        for name, value in fresh_secrets(key_id).items():
            print(f"export {name}={shlex.quote(value)}")
        return 0
    settings = get_settings()
    try:
        if args.command == "run":
            return run_stack(settings)
        if args.command != "search-attributes" and not settings.database_url:
            # Work on the embedded database (it keeps running if `motcua run` holds it).
            _, settings.database_url = embedded.start_postgres(settings.data_dir / "pg")
        if args.command == "migrate":
            applied = _run(_migrate(settings))
            print(f"applied: {applied or 'nothing, up to date'}")
        elif args.command == "catalog":
            if args.file:
                settings.catalog_path = args.file
            if args.action == "check":
                print(f"catalog {load_catalog(settings.catalog_path).version} is valid")
            else:
                print(f"catalog {_run(prepare_database(settings)).version} recorded")
        elif args.command == "official" and args.action == "add":
            _run(_add_official(settings, args.username, args.department, args.role, args.password))
            print(f"official {args.username} ({args.department}, {args.role}) saved")
        elif args.command == "official" and args.action == "move":
            _run(_move_official(settings, args.username, args.department, args.role))
            print(f"official {args.username} moved to {args.department}, {args.role}")
        elif args.command == "official":
            _run(_deactivate_official(settings, args.username))
            print(f"official {args.username} deactivated")
        elif args.command == "outbox":
            for line in _run(_outbox(settings, args.dossier, args.limit)):
                print(line)
        elif args.command == "audit":
            checked, broken = _run(_verify_audit(settings))
            if broken is not None:
                print(f"audit trail BROKEN at row {broken} (the {checked} rows before it hold)")
                return 1
            print(f"audit trail intact: {checked} rows")
        elif args.command == "search-attributes":
            added = _run(register_search_attributes(settings))
            print(f"registered: {added or 'nothing, all present'}")
    except (CatalogError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


async def _migrate(settings: Settings) -> list[str]:
    async with _database(settings) as engine:
        return await migrate(engine)


async def _verify_audit(settings: Settings) -> tuple[int, int | None]:
    async with _database(settings) as engine, create_sessionmaker(engine)() as session:
        return await first_broken_row(session)


async def _outbox(settings: Settings, dossier: str | None, limit: int) -> list[str]:
    async with _database(settings) as engine, create_sessionmaker(engine)() as session:
        rows = await recent_notifications(session, dossier, limit)
    return [
        f"{n.created_at.astimezone(VN_TZ):%Y-%m-%d %H:%M:%S}  {n.channel:<5} "
        f"{'sent' if n.sent_at else 'queued':<6} {n.recipient:<24} {n.message}"
        for n in rows
    ]


async def _add_official(
    settings: Settings, username: str, department: str, role: str, password: str
) -> None:
    async with _database(settings) as engine:
        catalog = await _prepare(engine, settings, seed_demo=False)
        _check_department(catalog, department)
        sessionmaker = create_sessionmaker(engine)
        async with sessionmaker.begin() as session:
            await upsert_official(session, username, hash_password(password), department, role)
        detail = {"username": username, "department": department, "role": role}
        await append(sessionmaker, _admin_entry("official_saved", detail))


async def _move_official(settings: Settings, username: str, department: str, role: str) -> None:
    async with _database(settings) as engine:
        catalog = await _prepare(engine, settings, seed_demo=False)
        _check_department(catalog, department)
        sessionmaker = create_sessionmaker(engine)
        async with sessionmaker.begin() as session:
            if not await move_official(session, username, department, role):
                raise RuntimeError(f"no official {username}")
        detail = {"username": username, "department": department, "role": role}
        await append(sessionmaker, _admin_entry("official_moved", detail))


async def _deactivate_official(settings: Settings, username: str) -> None:
    async with _database(settings) as engine:
        await migrate(engine)
        sessionmaker = create_sessionmaker(engine)
        async with sessionmaker.begin() as session:
            if not await deactivate_official(session, username):
                raise RuntimeError(f"no official {username}")
        await append(sessionmaker, _admin_entry("official_deactivated", {"username": username}))


def _check_department(catalog: LoadedCatalog, department: str) -> None:
    if department not in catalog.departments:
        raise RuntimeError(
            f"unknown department {department}; the catalog has {sorted(catalog.departments)}"
        )


def _admin_entry(action: str, detail: dict[str, str]) -> AuditEntry:
    """An audit entry of what an administrator did with the CLI."""
    who = os.environ.get("USER") or "?"
    return AuditEntry(f"cli:{who}", "admin", action, None, None, detail)


def console() -> NoReturn:
    """The `motcua` command."""
    leave(main())


if __name__ == "__main__":
    console()

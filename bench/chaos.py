"""Chaos: N dossiers through their whole lifecycle while the parts fail under them, then a check
of everything that must still hold. The bench starts every part itself, as separate processes
(bench/chaos_stack.py): its own PostgreSQL cluster, the Temporal dev server on a SQLite file,
the API under uvicorn, two workers, and a local SMTP server and SMS gateway for the
applicants' notifications.

    .venv/bin/python bench/chaos.py [--dossiers 200] [--concurrency 12] [--workers 2]
        [--worker-kills 10] [--no-api-kill] [--no-temporal-restart] [--no-postgres-stop]
        [--outage-s 10] [--stuck-limit-s 120] [--keep]

The dossiers, C at a time, each driven over HTTP as the portal and the officials' screens
would: of every 20, nine household businesses paid through the sandbox gateway, three of them
with a supplement asked and sent first, four building permits whose fee is paid at the desk
and whose result is handed over there, two birth registrations (no fee), and two household
businesses withdrawn by the applicant in review. Meanwhile, at points spread over the run
(by dossiers finished): a worker SIGKILLed (restarted a second later, as a supervisor would),
`--worker-kills` times; the API SIGKILLed and restarted; the Temporal server SIGKILLed and
restarted on its database file; PostgreSQL stopped (immediate: a crash) for `--outage-s`.
All faults are injected one after the other, never two at once.

The clients behave as careful real ones: a 503 is retried after its Retry-After, a lost
connection after a second, each submission and action with the same Idempotency-Key; a
payment whose callback did not get through is paid again (the gateway re-sends the same
event). Any other 5xx is counted as a 500 (and retried).

Printed: a header (the run and the faults injected), one line per check (PASS/FAIL and its
figures), and a summary line; the exit status is 1 if any check failed:

- finished: dossiers that reached their end (returned, or stopped once withdrawn) / started;
- charges: one gateway payment per dossier whose fee is paid online, none for the others, and
  the desk's payment recorded once for those paid at the desk;
- notifications: for every status change of every dossier, exactly one message received by
  the SMTP server and one by the SMS gateway (a repeat of the same outbox row, which
  at-least-once delivery allows, is dropped by them and counted);
- HTTP 500s seen by the clients: zero;
- `motcua audit verify` on the run's audit trail;
- the read model (PostgreSQL) equal to the workflow's own `state` for every dossier;
- every workflow history of the run replayed through today's code;
- each worker's log told the PostgreSQL outage once ("database unavailable", then "database
  reachable again"), not per retry;
- longest stuck: the longest a dossier's state (status, stage and step) stayed the same while
  its client was trying to move it on (each client acts as soon as it sees the state change,
  so every second between two changes is the stack's), against `--stuck-limit-s`. Expect
  about 40 s: an activity running on a worker that is killed is given up by the server only
  at its 30 s start-to-close timeout, then retried elsewhere.

The logs of every part stay in the printed directory when a check failed (or with --keep).
"""

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import chaos_checks as checks
import httpx
from chaos_stack import Postgres, Receivers, Stack, worker_name
from load import pool

from domain.catalog import load_catalog
from domain.forms import FormField
from motcua.cli import DEMO_PASSWORD, prepare_database
from motcua.settings import Settings, fresh_secrets
from motcua.temporal import connect_temporal
from store.db import create_engine, create_sessionmaker

CATALOG = load_catalog(Settings().catalog_path)
PATIENCE_S = 300  # a request failing, or a dossier standing still, this long: given up
FAULT_SPACING_S = 3  # between two faults, so each one's effects are its own


@dataclass(frozen=True)
class Journey:
    name: str
    procedure: str
    statuses: tuple[int, ...]  # each status change the applicant is told of, in order
    paid_online: bool = False
    paid_at_desk: bool = False


GATEWAY = Journey("gateway", "1.001612", (1, 2, 4, 6, 9, 10), paid_online=True)
SUPPLEMENT = Journey("supplement", "1.001612", (1, 2, 4, 5, 4, 6, 9, 10), paid_online=True)
DESK = Journey("desk", "1.009994", (1, 2, 4, 6, 9, 10), paid_at_desk=True)
NO_FEE = Journey("no_fee", "1.001193", (1, 2, 4, 9, 10))
WITHDRAWN = Journey("withdrawn", "1.001612", (1, 2, 4, 7, 8))
# Every 20 dossiers, in this order (so a short run has each journey).
MIX = [GATEWAY, SUPPLEMENT, DESK, NO_FEE, WITHDRAWN, GATEWAY, DESK, GATEWAY, SUPPLEMENT,
       GATEWAY, DESK, GATEWAY, WITHDRAWN, GATEWAY, SUPPLEMENT, GATEWAY, DESK, NO_FEE, GATEWAY,
       GATEWAY]  # fmt: skip


def official(department: str, role: str) -> str:
    """The demo login of a department and role."""
    return f"{department.lower()}.{role}"


AGENCY = CATALOG.agencies[CATALOG.procedures[GATEWAY.procedure].agency]
DESK_OFFICER = official(AGENCY.desk_department, AGENCY.desk_role)


class GaveUp(Exception):
    """A dossier's client could not go on (a refusal, or no progress for PATIENCE_S)."""


@dataclass
class Dossier:
    n: int
    journey: Journey
    code: str = ""
    key: str = ""
    state: dict[str, Any] = field(default_factory=dict)  # as its client last saw it
    error: str | None = None
    actions: int = 0
    where: str = ""  # status/stage/step, as last seen
    since: float = 0.0  # seconds into the run when it got there
    longest_still_s: float = 0.0
    longest_where: str = ""

    def saw(self, state: dict[str, Any], now: float) -> None:
        """The dossier's state as an answer showed it; a change ends a still period."""
        step = (state.get("current_step") or {}).get("key")
        where = f"{state['status_code']}/{state['stage']}" + (f"/{step}" if step else "")
        if where != self.where:
            self.still_until(now, where)
            self.where, self.since = where, now
        self.state = state

    def still_until(self, now: float, next_where: str) -> None:
        if self.where and now - self.since > self.longest_still_s:
            self.longest_still_s = now - self.since
            self.longest_where = f"{self.where} → {next_where}, from t={self.since:.0f}s"

    @property
    def finished(self) -> bool:
        end = self.journey.statuses[-1]
        return self.state.get("stage") == "done" and self.state.get("status_code") == end


class Clients:
    """The portal's and the officials' requests, retried as a careful client retries them."""

    def __init__(self, http: httpx.AsyncClient, run: str, started: float) -> None:
        self.http, self.run, self.started = http, run, started
        self.server_errors: list[str] = []
        self.retried = Counter[str]()  # 503s, lost connections, callbacks paid again
        self._tokens: dict[str, tuple[str, float]] = {}

    async def send(self, method: str, url: str, ok: tuple[int, ...], **kwargs: Any) -> Any:
        """The answer's JSON once its status is one of `ok`."""
        deadline = time.monotonic() + PATIENCE_S
        while True:
            try:
                r = await self.http.request(method, url, **kwargs)
            except httpx.TransportError:
                self.retried["connection"] += 1
                pause = 1.0
            else:
                if r.status_code in ok:
                    return r.json()
                if r.status_code == 503:
                    self.retried["503"] += 1
                    pause = float(r.headers.get("Retry-After", 5))
                elif r.status_code >= 500:
                    at = time.monotonic() - self.started
                    self.server_errors.append(
                        f"t={at:.0f}s {method} {url}: {r.status_code} {r.text[:200]}"
                    )
                    pause = 1.0
                else:
                    raise GaveUp(f"{method} {url}: {r.status_code} {r.text[:300]}")
            if time.monotonic() > deadline:
                raise GaveUp(f"{method} {url}: still failing after {PATIENCE_S}s")
            await asyncio.sleep(pause)

    async def as_official(self, username: str) -> dict[str, str]:
        token, at = self._tokens.get(username, ("", 0.0))
        if time.monotonic() - at > 15 * 60:  # well within the tokens' 30 minutes
            login = {"username": username, "password": DEMO_PASSWORD}
            answer = await self.send("POST", "/api/v1/auth/token", (200,), data=login)
            token, at = answer["access_token"], time.monotonic()
            self._tokens[username] = (token, at)
        return {"Authorization": f"Bearer {token}"}

    async def upload(self) -> str:
        scan = ("scan.pdf", b"%PDF-1.4\n% a scanned page\n", "application/pdf")
        uploaded = await self.send("POST", "/api/v1/files", (201,), files={"file": scan})
        return str(uploaded["file_id"])

    # ---- one dossier -----------------------------------------------------------------------

    async def lifecycle(self, d: Dossier) -> None:
        try:
            await self._drive(d)
        except GaveUp as exc:
            d.error = str(exc)

    async def _drive(self, d: Dossier) -> None:
        journey, procedure = d.journey, CATALOG.procedures[d.journey.procedure]
        await self.submit(d)
        await self.act(d, DESK_OFFICER, "accept")
        for n, step in enumerate(procedure.steps):
            reviewer = official(step.department, step.role)
            if journey is SUPPLEMENT and n == 0:
                note = "Thiếu hợp đồng thuê địa điểm"
                await self.act(d, reviewer, "request_supplement", note=note, components=["HDTN"])
                document = {"component": "HDTN", "file_id": await self.upload()}
                await self._applicant(d, "supplement", json={"documents": [document]})
            if journey is WITHDRAWN and n == 1:
                await self._applicant(d, "withdraw", json={"reason": "Không còn nhu cầu"})
                await self.act(d, DESK_OFFICER, "confirm_withdrawal")
                return
            await self.act(d, reviewer, "approve")
        if journey.paid_online:
            await self.pay_online(d)
        if journey.paid_at_desk:
            await self.act(d, DESK_OFFICER, "confirm_payment")
            await self.wait_for(d, "delivery")
            await self.act(d, DESK_OFFICER, "deliver")
        await self.wait_for(d, "done")

    def _saw(self, d: Dossier, state: dict[str, Any]) -> None:
        d.saw(state, time.monotonic() - self.started)

    async def submit(self, d: Dossier) -> None:
        procedure = CATALOG.procedures[d.journey.procedure]
        documents = [
            {"component": c.code, "file_id": await self.upload()}
            for c in procedure.components
            if c.required
        ]
        address = "1 Đường Thử, xã Mỹ Yên, tỉnh Tây Ninh"
        body = {
            "procedure_code": procedure.code,
            "channel": "online",
            "applicant": {
                "kind": "individual",
                "full_name": f"Nguyễn Văn Thử {d.n}",
                "id_number": f"0791{d.n:08d}",
                "phone": f"09{d.n:08d}",
                "email": f"applicant{d.n}@example.vn",
                "address": address,
            },
            "form": {f.name: _answer(f) for f in procedure.form if f.required},
            "documents": documents,
            "delivery": {
                "method": "online" if procedure.level == "full" else "counter",
                "address": address,
            },
        }
        key = f"{self.run}-{d.n}"
        created = await self.send(
            "POST", "/api/v1/dossiers", (200, 201), json=body, headers={"Idempotency-Key": key}
        )
        d.code, d.key = created["code"], created["lookup_key"]
        self._saw(d, {"status_code": created["status_code"], "stage": "intake"})

    async def act(self, d: Dossier, username: str, action: str, **extra: Any) -> None:
        d.actions += 1  # each action its own key, the same for every retry of it
        headers = {
            **await self.as_official(username),
            "Idempotency-Key": f"{self.run}-{d.n}-{d.actions}",
        }
        answer = await self.send(
            "POST",
            f"/api/v1/dossiers/{d.code}/actions",
            (200,),
            json={"action": action, **extra},
            headers=headers,
        )
        self._saw(d, answer)

    async def _applicant(self, d: Dossier, what: str, **kwargs: Any) -> None:
        """The applicant's supplement or withdrawal (a retry is the same update)."""
        answer = await self.send(
            "POST",
            f"/api/v1/dossiers/{d.code}/{what}",
            (200,),
            headers={"X-Lookup-Key": d.key},
            **kwargs,
        )
        self._saw(d, answer)

    async def pay_online(self, d: Dossier) -> None:
        applicant = {"X-Lookup-Key": d.key}
        payment = await self.send(
            "GET", f"/api/v1/dossiers/{d.code}/payment", (200,), headers=applicant
        )
        while (await self.send("POST", payment["pay_url"], (200,)))["callback_status"] != 200:
            self.retried["callback"] += 1  # the gateway sends its callback again, later
            await asyncio.sleep(2)

    async def wait_for(self, d: Dossier, stage: str) -> None:
        while True:
            state = await self.send(
                "GET", f"/api/v1/dossiers/{d.code}", (200,), headers={"X-Lookup-Key": d.key}
            )
            self._saw(d, state)
            if state["stage"] == stage:
                return
            if time.monotonic() - self.started - d.since > PATIENCE_S:
                raise GaveUp(f"{d.code}: still at {d.where} after {PATIENCE_S}s")
            await asyncio.sleep(0.5)


def _answer(f: FormField) -> Any:
    """A valid answer to a declaration form's field, by its type."""
    match f.type:
        case "number":
            return f.minimum if f.minimum is not None else 1
        case "date":
            return "2020-01-15"
        case "choice":
            return f.choices[0]
        case _:
            return "Thử nghiệm"


# ---- faults ---------------------------------------------------------------------------------


@dataclass
class Fault:
    kind: str  # worker, api, temporal, postgres
    at_finished: int  # injected once this many dossiers have finished
    at_s: float = 0.0
    recovered_s: float = 0.0  # how long the part was away
    worker: int = 0
    injected: bool = False

    def describe(self, outage_s: float) -> str:
        when = f"t={self.at_s:.0f}s"
        match self.kind:
            case "worker":
                return f"{when} {worker_name(self.worker)} SIGKILLed, restarted after 1 s"
            case "api":
                return f"{when} API SIGKILLed, restarted: ready after {self.recovered_s:.1f} s"
            case "temporal":
                return (
                    f"{when} Temporal server SIGKILLed, restarted on its database file: "
                    f"listening again after {self.recovered_s:.1f} s"
                )
            case _:
                return (
                    f"{when} PostgreSQL stopped (immediate) for {outage_s:.0f} s: taking "
                    f"connections again after {self.recovered_s:.1f} s"
                )


def fault_plan(args: argparse.Namespace) -> list[Fault]:
    """The faults in their order: the API, Temporal and PostgreSQL ones spread among the
    worker kills, and all of them from 5% to 85% of the dossiers finished (so the last ones
    still meet the last fault)."""
    wanted = [
        ("api", args.api_kill),
        ("temporal", args.temporal_restart),
        ("postgres", args.postgres_stop),
    ]
    others = [kind for kind, on in wanted if on]
    total = args.worker_kills + len(others)
    places = {(i + 1) * total // (len(others) + 1): kind for i, kind in enumerate(others)}
    kinds = [places.get(place, "worker") for place in range(total)]
    last = max(total - 1, 1)
    faults = [
        Fault(kind, round(args.dossiers * (0.05 + 0.8 * i / last))) for i, kind in enumerate(kinds)
    ]
    for n, fault in enumerate(f for f in faults if f.kind == "worker"):
        fault.worker = n % args.workers
    return faults


async def inject(fault: Fault, stack: Stack, postgres: Postgres, outage_s: float) -> None:
    started = time.monotonic()
    match fault.kind:
        case "worker":
            stack.kill_worker(fault.worker)
            await asyncio.sleep(1)
            stack.start_worker(fault.worker)
        case "api":
            stack.kill_api()
            await asyncio.to_thread(stack.start_api)
        case "temporal":
            stack.kill_temporal()
            await asyncio.to_thread(stack.start_temporal)
        case "postgres":
            await asyncio.to_thread(postgres.stop_immediately)
            await asyncio.sleep(outage_s)
            await asyncio.to_thread(postgres.start_again)
    fault.recovered_s, fault.injected = time.monotonic() - started, True


async def run_faults(
    faults: list[Fault],
    dossiers: list[Dossier],
    stack: Stack,
    postgres: Postgres,
    outage_s: float,
    started: float,
    over: asyncio.Event,
) -> None:
    """Each fault once its share of dossiers is through (or ended badly); none is started
    once the dossiers are `over`, and one under way is always seen to its end."""
    for fault in faults:
        while sum(d.finished or d.error is not None for d in dossiers) < fault.at_finished:
            if over.is_set():
                return
            await asyncio.sleep(0.2)
        fault.at_s = time.monotonic() - started
        print(f"  t={fault.at_s:.0f}s fault: {fault.kind}", file=sys.stderr, flush=True)
        await inject(fault, stack, postgres, outage_s)
        await asyncio.sleep(FAULT_SPACING_S)


async def report_progress(dossiers: list[Dossier], faults: list[Fault], started: float) -> None:
    while True:
        await asyncio.sleep(15)
        done = sum(d.finished for d in dossiers)
        injected = sum(f.injected for f in faults)
        print(
            f"  t={time.monotonic() - started:.0f}s finished {done}/{len(dossiers)}, "
            f"faults {injected}/{len(faults)}",
            file=sys.stderr,
            flush=True,
        )


# ---- the run --------------------------------------------------------------------------------


async def drive(
    args: argparse.Namespace,
    stack: Stack,
    postgres: Postgres,
    dossiers: list[Dossier],
    faults: list[Fault],
) -> Clients:
    """The dossiers through their lifecycles, C at a time, under the faults."""
    started = time.monotonic()
    limits = httpx.Limits(max_connections=args.concurrency * 2)
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30, limits=limits) as http:
        clients = Clients(http, uuid.uuid4().hex[:8], started)
        over = asyncio.Event()
        injecting = asyncio.create_task(
            run_faults(faults, dossiers, stack, postgres, args.outage_s, started, over)
        )
        progress = asyncio.create_task(report_progress(dossiers, faults, started))
        await pool(len(dossiers), args.concurrency, lambda i: clients.lifecycle(dossiers[i]))
        over.set()
        await injecting
        progress.cancel()
        end = time.monotonic() - started
        for d in dossiers:
            if not d.finished:
                d.still_until(end, "(no further change)")
    return clients


async def check(
    args: argparse.Namespace,
    stack: Stack,
    receivers: Receivers,
    settings: Settings,
    dossiers: list[Dossier],
    clients: Clients,
    faults: list[Fault],
) -> list[checks.Check]:
    engine = create_engine(settings.require_database_url(), 2)
    sessionmaker = create_sessionmaker(engine)
    try:
        with contextlib.suppress(TimeoutError):  # the notifications check names what is left
            await checks.outbox_drained(sessionmaker)
        client = await connect_temporal(settings)
        outages = sum(f.injected for f in faults if f.kind == "postgres")
        return [
            checks.finished(dossiers),
            await checks.charges(sessionmaker, dossiers, CATALOG),
            await checks.notifications(sessionmaker, dossiers, receivers),
            checks.http_500s(clients.server_errors, clients.retried),
            await checks.audit_verify(stack.env),
            await checks.read_model(client, sessionmaker, dossiers),
            await checks.replayed(client, settings, {d.code for d in dossiers if d.code}),
            checks.outage_told_once([stack.worker_log(n) for n in range(args.workers)], outages),
            checks.longest_stuck(dossiers, args.stuck_limit_s),
        ]
    finally:
        await engine.dispose()


async def main(args: argparse.Namespace) -> int:
    # The production shape, so real secrets (the parts refuse the demo's), in the environment
    # every part inherits and the checks' settings read.
    os.environ.update(fresh_secrets("chaos"))
    root = Path(tempfile.mkdtemp(prefix="motcua-chaos-"))
    postgres = await asyncio.to_thread(Postgres, root)
    receivers = Receivers()
    receivers.start()
    stack = Stack(root, postgres.url, receivers, args.workers)
    settings = Settings(database_url=postgres.url, temporal_address=stack.env["TEMPORAL_ADDRESS"])
    passed = False
    try:
        await prepare_database(settings, seed_demo=True)
        await asyncio.to_thread(stack.start_temporal)
        for n in range(args.workers):
            stack.start_worker(n)
        await asyncio.to_thread(stack.start_api)

        dossiers = [Dossier(n, MIX[n % len(MIX)]) for n in range(args.dossiers)]
        faults = fault_plan(args)
        started = time.monotonic()
        clients = await drive(args, stack, postgres, dossiers, faults)
        took = time.monotonic() - started
        results = await check(args, stack, receivers, settings, dossiers, clients, faults)

        journeys = Counter(d.journey.name for d in dossiers)
        injected = [f for f in faults if f.injected]
        mix = ", ".join(f"{k} {v}" for k, v in journeys.items())
        print(
            f"motcua chaos: {args.dossiers} dossiers ({mix}), {args.concurrency} at a time, "
            f"{args.workers} workers, {took:.0f} s"
        )
        print(f"faults injected: {len(injected)}/{len(faults)}")
        for fault in injected:
            print(f"  {fault.describe(args.outage_s)}")
        for result in results:
            print(result.line)
        passed = all(r.ok for r in results) and len(injected) == len(faults)
        print(" ".join(r.summary for r in results), flush=True)
    finally:
        await asyncio.to_thread(stack.stop)
        receivers.stop()
        postgres.remove()
        if passed and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"logs kept in {root}", file=sys.stderr)
    return 0 if passed else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dossiers", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-kills", type=int, default=10)
    parser.add_argument("--no-api-kill", dest="api_kill", action="store_false")
    parser.add_argument("--no-temporal-restart", dest="temporal_restart", action="store_false")
    parser.add_argument("--no-postgres-stop", dest="postgres_stop", action="store_false")
    parser.add_argument("--outage-s", type=float, default=10, help="PostgreSQL stopped this long")
    parser.add_argument("--stuck-limit-s", type=float, default=120)
    parser.add_argument("--keep", action="store_true", help="keep the logs even if all passed")
    sys.exit(asyncio.run(main(parser.parse_args())))

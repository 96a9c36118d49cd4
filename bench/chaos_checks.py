"""What bench/chaos.py checks once its dossiers are through: each check one line of figures,
and its part of the summary line."""

import asyncio
import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaos_stack import Receivers
from sqlalchemy import func, select
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer

from api.status import recorded_state
from domain.catalog import LoadedCatalog
from domain.dossier import DossierState
from motcua import embedded
from motcua.codec import data_converter
from motcua.settings import Settings
from store.db import Sessionmaker
from store.dossiers import slip_entries
from store.models import Dossier as DossierRow
from store.models import Notification, Payment, SandboxGatewayPayment
from worker import WORKFLOWS
from workflows.dossier import DossierWorkflow

if TYPE_CHECKING:  # (chaos.py imports this module)
    from chaos import Dossier


@dataclass
class Check:
    name: str
    ok: bool
    figures: str
    summary: str  # key=value, for the summary line

    @property
    def line(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'} {self.name}: {self.figures}"


def _some(problems: list[str], shown: int = 3) -> str:
    if not problems:
        return ""
    more = f" (and {len(problems) - shown} more)" if len(problems) > shown else ""
    return "; e.g. " + "; ".join(problems[:shown]) + more


def finished(dossiers: list["Dossier"]) -> Check:
    """Each dossier started reached its journey's end (a submission never answered counts as
    started, and not finished)."""
    done = [d for d in dossiers if d.finished]
    kinds = Counter(d.journey.name for d in done)
    unfinished = [
        f"#{d.n} {d.code or '(submission not answered)'}: {d.error or d.state}"
        for d in dossiers
        if not d.finished
    ]
    return Check(
        "dossiers finished",
        len(done) == len(dossiers),
        f"{len(done)}/{len(dossiers)} ("
        + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
        + ")"
        + _some(unfinished),
        f"finished={len(done)}/{len(dossiers)}",
    )


async def charges(
    sessionmaker: Sessionmaker, dossiers: list["Dossier"], catalog: LoadedCatalog
) -> Check:
    """The gateway holds one paid charge, of the fee, per dossier paid online and none for the
    others; the desk's payment is recorded once for those paid at the desk."""
    async with sessionmaker() as session:
        gateway = defaultdict(list)
        for ref, status, amount in await session.execute(
            select(
                SandboxGatewayPayment.merchant_ref,
                SandboxGatewayPayment.status,
                SandboxGatewayPayment.amount_vnd,
            )
        ):
            gateway[ref].append((status, amount))
        payments = {p.dossier_code: p for p in await session.scalars(select(Payment))}
    wrong = []
    for d in (d for d in dossiers if d.code):
        fee = catalog.procedures[d.journey.procedure].fee_vnd
        charged, payment = gateway.get(d.code, []), payments.get(d.code)
        recorded = (payment.via.split(":")[0], payment.status) if payment else None
        if d.journey.paid_online:
            right = charged == [("paid", fee)] and recorded == ("gateway", "paid")
        elif d.journey.paid_at_desk:
            right = charged == [] and recorded == ("desk", "paid")
        else:
            right = charged == [] and recorded is None
        if not right:
            wrong.append(f"{d.code} ({d.journey.name}): gateway {charged}, recorded {recorded}")
    online = [d for d in dossiers if d.code and d.journey.paid_online]
    twice = sum(len(gateway.get(d.code, [])) > 1 for d in online)
    never = sum(not gateway.get(d.code) for d in online)
    desk = sum(d.journey.paid_at_desk for d in dossiers if d.code)
    ok_count = sum(bool(d.code) for d in dossiers) - len(wrong)
    return Check(
        "gateway charges",
        not wrong,
        f"{len(online) - twice - never}/{len(online)} dossiers paying online charged exactly once "
        f"({twice} more than once, {never} never); {desk} paid at the desk, recorded there "
        f"once; the others charged nothing" + _some(wrong),
        f"charges_ok={ok_count}/{len(dossiers)}",
    )


async def notifications(
    sessionmaker: Sessionmaker, dossiers: list["Dossier"], receivers: Receivers
) -> Check:
    """Each status change of each dossier reached the SMTP server once and the SMS gateway
    once: the messages received, through the outbox row each one names, against the status
    changes of the dossier's journey."""
    async with sessionmaker() as session:
        outbox = await session.scalars(select(Notification))
        rows = {f"motcua-notification-{n.id}": n for n in outbox}
    told: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    strays = []
    for message in receivers.received.values():
        row = rows.get(message.reference)
        if row is None or row.channel != message.channel or row.dossier_code not in message.message:
            strays.append(f"{message.channel} {message.reference}")
            continue
        told[row.dossier_code, row.channel].append((row.seq, row.status_code))
    wrong = []
    for d in (d for d in dossiers if d.code):
        for channel in ("email", "sms"):
            got = tuple(status for _, status in sorted(told[d.code, channel]))
            if got != d.journey.statuses:
                wrong.append(f"{d.code} {channel}: {got}, expected {d.journey.statuses}")
    unsent = sum(row.sent_at is None for row in rows.values())
    changes = sum(len(d.journey.statuses) for d in dossiers if d.code)
    right = sum(bool(d.code) for d in dossiers) - len({w.split()[0] for w in wrong})
    return Check(
        "notifications",
        not wrong and not strays,
        f"{changes} status changes, each received once by the SMTP server and once by the "
        f"SMS gateway for {right}/{len(dossiers)} dossiers; {receivers.repeats} repeats "
        f"dropped by the receivers, {len(strays)} strays, {unsent} rows unsent"
        + _some(wrong + strays),
        f"notifications_ok={right}/{len(dossiers)}",
    )


async def outbox_drained(sessionmaker: Sessionmaker, timeout_s: float = 120) -> None:
    """Until the workers have sent every queued notification (or `timeout_s`)."""
    async with asyncio.timeout(timeout_s):
        while True:
            async with sessionmaker() as session:
                unsent = await session.scalar(
                    select(func.count()).where(Notification.sent_at.is_(None))
                )
            if not unsent:
                return
            await asyncio.sleep(1)


def http_500s(server_errors: list[str], retried: Counter[str]) -> Check:
    return Check(
        "HTTP 500s seen by the clients",
        not server_errors,
        f"{len(server_errors)} (retried: {retried['503']} answers 503, {retried['connection']} "
        f"lost connections, {retried['callback']} payment callbacks)" + _some(server_errors),
        f"http_500={len(server_errors)}",
    )


async def audit_verify(env: dict[str, str]) -> Check:
    """`motcua audit verify`, as an operator runs it."""
    verify = await asyncio.create_subprocess_exec(
        embedded.venv_binary("motcua"),
        "audit",
        "verify",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = (await verify.communicate())[0].decode().strip().splitlines()
    ok = verify.returncode == 0
    return Check(
        "motcua audit verify",
        ok,
        output[-1] if output else f"exit status {verify.returncode}",
        f"audit={'ok' if ok else 'BROKEN'}",
    )


def _compared(state: DossierState) -> dict[str, Any]:
    """What is compared of a dossier's state."""
    t = state.current_task
    step = (
        (t.step_key, t.step_name, t.department, t.role, t.started_at, t.due_at, t.assignee)
        if t
        else None
    )
    return {
        "status_code": state.status_code,
        "stage": state.stage,
        "outcome": state.outcome,
        "step": step,
        "due_at": state.due_at,
        "finished_at": state.finished_at,
        "supplement_requests": state.supplement_requests,
        "supplement_hours": state.supplement_hours,
        "slip": [
            (e.seq, e.step_key, e.department, e.actor, e.action, e.at, e.note, e.timeliness)
            for e in state.history
        ],
    }


async def read_model(
    client: Client, sessionmaker: Sessionmaker, dossiers: list["Dossier"]
) -> Check:
    """For every dossier, the read model's record equals the workflow's `state` query."""
    differing = []
    submitted = [d for d in dossiers if d.code]
    for d in submitted:
        state = await client.get_workflow_handle(d.code).query(DossierWorkflow.state)
        async with sessionmaker() as session:
            row = await session.get_one(DossierRow, d.code)
            # As the API serves it from the read model (a "recorded" or "snapshot" lookup).
            recorded = _compared(recorded_state(row, await slip_entries(session, d.code)))
        own = _compared(state)
        fields = [key for key in own if own[key] != recorded[key]]
        if fields:
            differing.append(f"{d.code}: {', '.join(fields)}")
    same = len(submitted) - len(differing)
    return Check(
        "read model = the workflow's state",
        not differing and len(submitted) == len(dossiers),
        f"{same}/{len(submitted)} dossiers (status, stage, outcome, step, due dates, "
        "supplements, every line of the control slip)" + _some(differing),
        f"read_model_ok={same}/{len(dossiers)}",
    )


async def replayed(client: Client, settings: Settings, codes: set[str]) -> Check:
    """Every workflow history of the run, through today's workflow code."""
    histories: list[WorkflowHistory] = [
        await client.get_workflow_handle(w.id, run_id=w.run_id).fetch_history()
        async for w in client.list_workflows()
    ]
    replayer = Replayer(workflows=WORKFLOWS, data_converter=data_converter(settings))
    failures = []
    async with replayer.workflow_replay_iterator(_each(histories)) as results:
        async for result in results:
            if result.replay_failure is not None:
                failures.append(f"{result.history.workflow_id}: {result.replay_failure}")
    others = sum(h.workflow_id not in codes for h in histories)
    good = len(histories) - len(failures)
    return Check(
        "histories replayed",
        not failures and bool(histories),
        f"{good}/{len(histories)} through today's code ({len(histories) - others} dossiers', "
        f"{others} others)" + _some(failures),
        f"replayed={good}/{len(histories)}",
    )


async def _each(histories: Iterable[WorkflowHistory]) -> Any:
    for history in histories:
        yield history


def outage_told_once(logs: list[Path], outages: int) -> Check:
    """Each worker's log said "database unavailable" and "database reachable again" once per
    PostgreSQL outage, and nothing per failed attempt: no warning with a traceback from the
    SDK for an activity that failed on the database, no outbox traceback. (The SDK's warnings
    for other activity failures, e.g. a dossier's first write arriving before its row was
    committed, are counted apart.)"""
    per_worker = []
    right = True
    per_attempt = other_failures = 0
    for log in logs:
        events: Counter[str] = Counter()
        for line in log.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            name = event.get("event")
            if name == "Completing activity as failed" and _database_error(event):
                name = "activity failed on the database"
            events[name] += 1
        down, up = events["database unavailable"], events["database reachable again"]
        told_per_attempt = events["activity failed on the database"]
        told_per_attempt += events["outbox delivery failed"]
        right = right and down == up == outages and not told_per_attempt
        per_attempt += told_per_attempt
        other_failures += events["Completing activity as failed"]
        per_worker.append(f"{log.stem}: unavailable ×{down}, reachable again ×{up}")
    return Check(
        "worker logs tell the outage once",
        right,
        f"{outages} outage(s); "
        + "; ".join(per_worker)
        + f"; lines per failed attempt on the database ×{per_attempt} (the SDK's warnings "
        f"for other activity failures ×{other_failures})",
        f"outage_logged_once={'yes' if right else 'no'}",
    )


def _database_error(event: dict[str, Any]) -> bool:
    trace = str(event.get("exception", ""))
    return any(kind in trace for kind in ("sqlalchemy.exc.", "psycopg.", "DatabaseUnavailable"))


def longest_stuck(dossiers: list["Dossier"], limit_s: float) -> Check:
    worst = max(dossiers, key=lambda d: d.longest_still_s)
    typical = statistics.median(d.longest_still_s for d in dossiers)
    return Check(
        "longest stuck",
        worst.longest_still_s <= limit_s,
        f"{worst.longest_still_s:.1f} s ({worst.code}, {worst.journey.name}: "
        f"{worst.longest_where}); median of each dossier's longest {typical:.1f} s; "
        f"limit {limit_s:.0f} s",
        f"longest_stuck_s={worst.longest_still_s:.1f}",
    )

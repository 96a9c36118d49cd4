"""Replaying histories through today's workflow code: the only check that a change cannot
strand a running dossier on a non-determinism error."""

import os
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer

from motcua.codec import ENCODING, data_converter
from motcua.settings import Settings
from worker import WORKFLOWS

# Histories recorded by earlier versions of the code, as running dossiers have them.
RECORDED = Path(__file__).parent / "histories"


def event_kind(event: HistoryEvent) -> str:
    """An event's kind, as its attributes' field is named: `timer_fired`, `marker_recorded`…"""
    return (event.WhichOneof("attributes") or "").removesuffix("_event_attributes")


def started_unencrypted(history: WorkflowHistory) -> bool:
    """A dossier started before payloads were encrypted: its input is in plain JSON."""
    started = history.events[0].workflow_execution_started_event_attributes
    return any(p.metadata.get("encoding") != ENCODING for p in started.input.payloads)


def replayer(*, unencrypted: bool = False) -> Replayer:
    """A worker's replay: refusing unencrypted payloads, as workers do by default, or (for a
    history started before encryption) opening them, as ACCEPT_UNENCRYPTED_PAYLOADS does."""
    settings = Settings(accept_unencrypted_payloads=unencrypted)
    return Replayer(workflows=WORKFLOWS, data_converter=data_converter(settings))


def replayer_for(history: WorkflowHistory) -> Replayer:
    return replayer(unencrypted=started_unencrypted(history))


async def replay_failures(histories: Iterable[WorkflowHistory]) -> dict[str, str]:
    """Each history that does not replay, by workflow id, with the reason."""
    failures: dict[str, str] = {}
    histories = list(histories)
    for unencrypted in (False, True):
        group = [h for h in histories if started_unencrypted(h) == unencrypted]
        async with replayer(unencrypted=unencrypted).workflow_replay_iterator(
            _aiter(group)
        ) as results:
            async for result in results:
                if result.replay_failure is not None:
                    failures[result.history.workflow_id] = str(result.replay_failure)
    return failures


async def _aiter(histories: Iterable[WorkflowHistory]) -> AsyncIterator[WorkflowHistory]:
    for history in histories:
        yield history


async def histories_of(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """A workflow's history, and those of the children it started (consultations)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    children = [
        e.start_child_workflow_execution_initiated_event_attributes.workflow_id
        for e in history.events
        if e.HasField("start_child_workflow_execution_initiated_event_attributes")
    ]
    return [history, *[h for c in children for h in await histories_of(client, c)]]


def save_if_recording(name: str, history: WorkflowHistory) -> None:
    """Keep `history` as `<name>-<version>.json` when MOTCUA_RECORD_HISTORIES names a version."""
    version = os.environ.get("MOTCUA_RECORD_HISTORIES")
    if not version:
        return
    path = RECORDED / f"{name}-{version}.json"
    if path.exists():
        raise FileExistsError(f"{path} is recorded already: name a new version")
    path.write_text(history.to_json())


async def check_replays(client: Client, workflow_id: str, name: str) -> None:
    """A workflow and its children replay through today's code (and are kept when recording:
    the children as `<name>-<their department>`)."""
    dossier, *children = await histories_of(client, workflow_id)
    assert await replay_failures([dossier, *children]) == {}
    save_if_recording(name, dossier)
    for child in children:
        save_if_recording(f"{name}-{child.workflow_id.rsplit('-', 1)[-1]}", child)

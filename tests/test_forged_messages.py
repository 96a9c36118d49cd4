"""Whoever reaches Temporal without our payload key cannot act on a dossier: an update or a
signal written in plain JSON (as `temporal workflow update --name act --input '{…}'` sends),
or sealed with a key we do not hold, or altered after sealing, is refused — and refused
without wedging the dossier: no workflow task fails, and the next real action works."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.converter import DataConverter, PayloadCodec

from motcua.codec import ENCODING, KEY_ID, EncryptionCodec, RefusedPayloadError, codec_from
from tests.client import ApiClient, username
from tests.conftest import Stack
from tests.test_lifecycle import CATALOG

HKD = "1.001612"  # household business: reviewed in steps, then paid through the gateway


class Forger(PayloadCodec):
    """Writes what an outsider can (`write`: plain JSON by default), and reads what comes back
    with the agency's codec, so that the test can see why it was refused."""

    def __init__(self, reader: EncryptionCodec) -> None:
        self.reader = reader
        self.write = self.plain

    async def plain(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return await self.write(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return await self.reader.decode(payloads)


async def _unknown_key(payloads: Sequence[Payload]) -> list[Payload]:
    return await EncryptionCodec({"2026-12": b"x" * 32}, "2026-12").encode(payloads)


def _altering(codec: EncryptionCodec) -> Any:
    async def sealed_then_altered(payloads: Sequence[Payload]) -> list[Payload]:
        sealed = await codec.encode(payloads)
        return [
            Payload(metadata=p.metadata, data=p.data[:-1] + bytes([p.data[-1] ^ 1])) for p in sealed
        ]

    return sealed_then_altered


async def _forger(stack: Stack) -> tuple[Client, Forger]:
    forger = Forger(codec_from(stack.settings))
    converter = DataConverter(payload_codec=forger)
    config = stack.client.config()
    config["data_converter"] = converter
    return Client(**config), forger


async def _task_failures(stack: Stack, code: str) -> list[str]:
    history = await stack.client.get_workflow_handle(code).fetch_history()
    failed = EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    return [
        str(e.workflow_task_failed_event_attributes)
        for e in history.events
        if e.event_type == failed
    ]


async def test_forged_updates_are_refused_and_the_dossier_goes_on(
    api: ApiClient, stack: Stack
) -> None:
    procedure = CATALOG.procedures[HKD]
    agency = CATALOG.agencies[procedure.agency]
    dossier = await api.submit(HKD)
    code = dossier["code"]
    r = await api.act(code, username(agency.desk_department, agency.desk_role), "accept")
    assert r.status_code == 200, r.text
    step = r.json()["current_step"]
    official = {"username": "forger", "department": step["department"], "role": step["role"]}
    approve = {"action": "approve", "actor": official, "step_key": step["key"]}

    outsider, forger = await _forger(stack)
    handle = outsider.get_workflow_handle(code)
    for write in (forger.plain, _unknown_key, _altering(codec_from(stack.settings))):
        forger.write = write
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update("act", approve)
        # The SDK's words, around ours: refused before the validator, nothing written.
        cause = refused.value.cause
        assert "Failed decoding arguments" in str(cause), write
        assert "payload refused" in str(cause.__cause__), write

    state = await api.status(code, dossier["lookup_key"])
    assert state["current_step"]["key"] == step["key"], "a forged approval moved the dossier"
    # The real official's approval still lands: the dossier was not wedged.
    r = await api.act(code, username(step["department"], step["role"]), "approve")
    assert r.status_code == 200, r.text
    assert r.json()["current_step"]["key"] != step["key"]
    assert await _task_failures(stack, code) == []


async def test_forged_payment_confirmations_are_dropped(api: ApiClient, stack: Stack) -> None:
    procedure = CATALOG.procedures[HKD]
    agency = CATALOG.agencies[procedure.agency]
    dossier = await api.submit(HKD)
    code, key = dossier["code"], dossier["lookup_key"]
    r = await api.act(code, username(agency.desk_department, agency.desk_role), "accept")
    for step in procedure.steps:
        assert r.status_code == 200, r.text
        r = await api.act(code, username(step.department, step.role), "approve")
    assert r.json()["stage"] == "payment", r.text
    payment = (
        await api.http.get(f"/api/v1/dossiers/{code}/payment", headers={"X-Lookup-Key": key})
    ).json()

    outsider, forger = await _forger(stack)
    handle = outsider.get_workflow_handle(code)
    paid = {
        "payment_id": payment["payment_id"],
        "amount_vnd": payment["amount_vnd"],
        "paid_at": datetime.now(UTC).isoformat(),
    }
    for write in (forger.plain, _unknown_key, _altering(codec_from(stack.settings))):
        forger.write = write
        await handle.signal("payment_confirmed", paid)
    # A signal is written to the history before any worker reads it: wait until the worker
    # has taken all three (a query answers after the signals before it), then look.
    await stack.client.get_workflow_handle(code).query("state")
    history = await stack.client.get_workflow_handle(code).fetch_history()
    signaled = [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]
    assert len(signaled) == 3
    assert (await api.status(code, key))["stage"] == "payment", "a forged confirmation was taken"
    assert await _task_failures(stack, code) == []

    # The gateway's real confirmation, through the API, still moves the dossier on.
    assert (await api.http.post(payment["pay_url"])).status_code == 200
    await api.wait_for(code, key, "done")


async def test_the_codec_marks_what_it_refuses_and_the_converter_will_not_read_it(
    stack: Stack,
) -> None:
    codec = codec_from(stack.settings)
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"action": "approve"}')
    [refused] = await codec.decode([plain])
    assert refused.metadata["motcua-refused"] == b"not encrypted with the agency's payload key"
    with pytest.raises(RefusedPayloadError, match="payload refused: not encrypted"):
        stack.client.data_converter.payload_converter.from_payloads([refused], [dict])
    [sealed] = await codec.encode([plain])
    assert sealed.metadata["encoding"] == ENCODING and KEY_ID in sealed.metadata
    assert await codec.decode([sealed]) == [plain]
    # Dossiers started before payloads were encrypted: opened as they are, when allowed.
    legacy = stack.settings.model_copy(update={"accept_unencrypted_payloads": True})
    assert await codec_from(legacy).decode([plain]) == [plain]

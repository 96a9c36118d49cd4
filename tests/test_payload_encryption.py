"""No plaintext in Temporal: every payload is encrypted (AES-256-GCM, key named in the payload),
none holds the applicant's personal data even once decrypted, and only an operator's token
opens them through the codec endpoint."""

import asyncio
import base64
import json
import re
import subprocess
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest
from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import History
from temporalio.client import Client, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from domain.calendar import VN_TZ
from motcua import embedded
from motcua.codec import ENCODING, KEY_ID, REFUSED, EncryptionCodec, codec_from
from tests.client import APPLICANT, DESK, ApiClient
from tests.conftest import Stack
from workflows import search_attributes as sa
from workflows.service_index_snapshot import (
    ServiceIndexSnapshotInput,
    ServiceIndexSnapshotWorkflow,
)

OLD, NEW = b"o" * 32, b"n" * 32

HKD = "1.001612"  # household business: full online, paid through the gateway
LAND = "1.012778"  # land-use certificate: its first step consults TNMT and THUE
LAND_DESK = "vpdk_mc.desk_officer"

# What must never reach Temporal, even encrypted. The ID number and phone also as the numbers
# a careless converter would make of them (leading zero lost).
PERSONAL = {
    "full name": APPLICANT["full_name"],
    "ID number": APPLICANT["id_number"].lstrip("0"),
    "phone": APPLICANT["phone"].lstrip("0"),
    "e-mail": APPLICANT["email"],
    "address": APPLICANT["address"],
}

# The payloads Temporal legitimately holds unencrypted:
# - search attributes: the server indexes them, so it must read them (they are checked for
#   personal data below, and must be ours or Temporal's own);
# - the SDK's own marker data, written by the SDK core itself, not by our converter: a patch
#   marker's id, and a local activity marker's bookkeeping (runs that write through local
#   activities; the marker's `result` is ours: encrypted).
SDK_MARKER_DATA = {("core_patch", "patch-data"), ("core_local_activity", "data")}
TEMPORAL_SEARCH_ATTRIBUTES = {"TemporalChangeVersion", "BuildIds", "TemporalScheduledStartTime"}

# Where our payloads must show up in a rich dossier's history (so the walk below cannot pass
# by finding nothing): any of these missing means the walk or the scenario is broken.
EXPECTED_KINDS = {
    "workflow_execution_started_event_attributes.input.payloads",
    "activity_task_scheduled_event_attributes.input.payloads",
    "activity_task_completed_event_attributes.result.payloads",
    "workflow_execution_update_accepted_event_attributes.accepted_request.input.args.payloads",
    "workflow_execution_update_completed_event_attributes.outcome.success.payloads",
    "workflow_execution_signaled_event_attributes.input.payloads",
    "start_child_workflow_execution_initiated_event_attributes.input.payloads",
    "child_workflow_execution_completed_event_attributes.result.payloads",
    "workflow_execution_completed_event_attributes.result.payloads",
    "workflow_execution_failed_event_attributes.failure.encoded_attributes",
    "execution_config.user_metadata.summary",  # the dossier's summary (its procedure)
}


async def _run(command: list[str]) -> str:
    done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_keys_rotate_and_tampering_is_caught() -> None:
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"name": "Nguy\\u1ec5n"}')
    before = EncryptionCodec({"2026-10": OLD}, "2026-10")
    [sealed] = await before.encode([plain])
    assert sealed.metadata["encoding"] == ENCODING and b"Nguy" not in sealed.data

    after = EncryptionCodec({"2026-10": OLD, "2026-11": NEW}, "2026-11")
    assert await after.decode([sealed]) == [plain]  # the old key still opens old payloads
    [resealed] = await after.encode([plain])
    assert resealed.metadata["encryption-key-id"] == b"2026-11"
    # Refused, with the reason (tests/test_forged_messages.py: what that does to a dossier).
    [unsealed] = await after.decode([plain])
    assert unsealed.metadata[REFUSED] == b"not encrypted with the agency's payload key"
    assert unsealed.data == plain.data
    [unknown] = await EncryptionCodec({"2026-11": NEW}, "2026-11").decode([sealed])
    assert unknown.metadata[REFUSED].startswith(b"encrypted with a key this process does not")
    tampered = Payload(metadata=sealed.metadata, data=sealed.data[:-1] + b"x")
    [altered] = await before.decode([tampered])
    assert altered.metadata[REFUSED] == b"does not open with key '2026-10': forged or altered"
    # Written before encryption was turned on, and allowed: passed through.
    legacy = EncryptionCodec({"2026-11": NEW}, "2026-11", accept_unencrypted=True)
    assert await legacy.decode([plain]) == [plain]


# ---- every payload of rich dossiers' histories -------------------------------------------------


M = TypeVar("M", bound=Message)


def _find(message: Message, cls: type[M], path: str = "") -> Iterator[tuple[str, M]]:
    """Every `cls` message anywhere in a protobuf message, with its field path, found by
    walking the descriptors through single, repeated and map fields: for Payload, those of
    Payloads, Memo, Header, SearchAttributes, failures' details and encoded attributes, marker
    details, user metadata, update requests and outcomes, …"""
    if isinstance(message, cls):
        yield path, message
    for field, value in message.ListFields():
        entry = field.message_type
        if entry is None:  # not a message
            continue
        name = f"{path}.{field.name}" if path else field.name
        if entry.GetOptions().map_entry:
            if entry.fields_by_name["value"].type == field.TYPE_MESSAGE:
                for key, item in value.items():
                    yield from _find(item, cls, f"{name}[{key}]")
        elif field.is_repeated:
            for i, item in enumerate(value):
                yield from _find(item, cls, f"{name}[{i}]")
        else:
            yield from _find(value, cls, name)


@dataclass
class Found:
    """A payload somewhere in a workflow's history (or its description)."""

    where: str  # workflow, event and field path, e.g. "…-0001 #5 …input.payloads[0]"
    kind: str  # the field path without indices or keys
    payload: Payload
    marker_detail: tuple[str, str] | None = None  # (marker name, detail key)


@dataclass
class Walked:
    payloads: list[Found]
    failures: list[tuple[str, Failure]]
    raw: bytes  # the whole history, serialized
    children: list[str]  # the child workflows it started


async def _walk(client: Client, workflow_id: str) -> Walked:
    """Every payload and failure of the workflow's whole history, and every payload of its
    description (search attributes, memo, summary, pending work)."""
    handle = client.get_workflow_handle(workflow_id)
    history = await handle.fetch_history()
    walked = Walked([], [], History(events=history.events).SerializeToString(), [])
    for event in history.events:
        label = f"{workflow_id} #{event.event_id} {EventType.Name(event.event_type)}"
        marker = event.marker_recorded_event_attributes.marker_name
        for path, payload in _find(event, Payload):
            detail = re.match(r"marker_recorded_event_attributes\.details\[([^\]]*)\]", path)
            walked.payloads.append(
                Found(
                    f"{label} {path}",
                    re.sub(r"\[[^\]]*\]", "", path),
                    payload,
                    (marker, detail.group(1)) if detail else None,
                )
            )
        walked.failures += [(f"{label} {path}", f) for path, f in _find(event, Failure)]
        if event.HasField("start_child_workflow_execution_initiated_event_attributes"):
            child = event.start_child_workflow_execution_initiated_event_attributes
            walked.children.append(child.workflow_id)
    description = (await handle.describe()).raw_description
    for path, payload in _find(description, Payload):
        kind = re.sub(r"\[[^\]]*\]", "", path)
        walked.payloads.append(Found(f"{workflow_id} describe {path}", kind, payload))
    return walked


def _texts(data: bytes) -> list[str]:
    """The bytes as text, and with JSON's \\uXXXX escapes (at any depth of nesting) undone, in
    both Unicode normal forms."""
    raw = data.decode("utf-8", errors="replace")
    unescaped = raw
    while True:
        step = re.sub(r"\\+u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), unescaped)
        if step == unescaped:
            break
        unescaped = step
    return [unicodedata.normalize(form, t) for t in (raw, unescaped) for form in ("NFC", "NFD")]


def _personal_data_in(data: bytes) -> list[str]:
    """What of the applicant's personal data the bytes hold, in either normal form."""
    texts = _texts(data)
    return [
        what
        for what, value in PERSONAL.items()
        if any(
            unicodedata.normalize(form, value) in text for form in ("NFC", "NFD") for text in texts
        )
    ]


def _contents(payload: Payload) -> bytes:
    """All that a payload says: its data and its metadata's values."""
    return b"\n".join([payload.data, *payload.metadata.values()])


def test_personal_data_is_found_however_it_is_written() -> None:
    name = APPLICANT["full_name"]
    assert _personal_data_in(json.dumps({"n": name}).encode()) == ["full name"]  # Nguy\u1ec5n
    assert _personal_data_in(json.dumps(json.dumps({"n": name})).encode()) == ["full name"]
    assert _personal_data_in(unicodedata.normalize("NFD", name).encode()) == ["full name"]
    assert _personal_data_in(b'{"id": 79123456789, "phone": 901234567}') == ["ID number", "phone"]
    assert _personal_data_in(b'{"code": "000.00.15.H39-261202-0001", "n": "Nguyen"}') == []


async def _drive_household(api: ApiClient) -> str:
    """Supplement at intake, refused actions, a reassignment, two clicks racing for one step,
    approvals, the gateway's payment, done."""
    created = await api.submit(HKD)
    code, key = created["code"], created["lookup_key"]
    applicant = {"X-Lookup-Key": key}
    assert (await api.act(code, DESK, "approve")).status_code == 409  # not at intake
    r = await api.act(code, DESK, "request_supplement", note="Thiếu hợp đồng", components=["HDTN"])
    assert r.status_code == 200, r.text
    supplement = {
        "documents": [{"component": "HDTN", "file_id": await api.upload()}],
        "note": "Đã bổ sung",
    }
    url = f"/api/v1/dossiers/{code}/supplement"
    assert (await api.http.post(url, json=supplement, headers=applicant)).status_code == 200
    assert (await api.act(code, DESK, "accept")).status_code == 200
    r = await api.act(code, "kt.head", "reassign", assignee="kt.specialist2")
    assert r.status_code == 200, r.text
    assert (await api.act(code, "kt.specialist", "approve")).status_code == 403

    official = await api.as_official("kt.specialist2")

    async def click() -> int:
        headers = {**official, "Idempotency-Key": uuid.uuid4().hex}
        r = await api.http.post(
            f"/api/v1/dossiers/{code}/actions", json={"action": "approve"}, headers=headers
        )
        return r.status_code

    # One is applied; the other refused: by the validator or the handler (409), or, arriving
    # once the step has moved on, as not the official's step (403).
    first, second = sorted(await asyncio.gather(click(), click()))
    assert first == 200 and second in (403, 409), (first, second)
    for user in ("kt.head", "ld.leader"):
        assert (await api.act(code, user, "approve")).status_code == 200
    r = await api.http.get(f"/api/v1/dossiers/{code}/payment", headers=applicant)
    assert (await api.http.post(r.json()["pay_url"])).status_code == 200
    state = await api.wait_for(code, key, "done")
    assert (state["status_code"], state["outcome"]) == (10, "approved")
    return code


async def _drive_land(api: ApiClient) -> str:
    """A consultation whose two child workflows answer (one refusing a second answer), the
    remaining steps, the fee paid at the desk, the result handed over."""
    created = await api.submit(LAND)
    code, key = created["code"], created["lookup_key"]
    assert (await api.act(code, LAND_DESK, "accept")).status_code == 200
    r = await api.act(code, "vpdk.specialist", "consult", note="Nguồn gốc đất, nghĩa vụ thuế?")
    assert r.status_code == 200, r.text
    for user in ("tnmt.specialist", "thue.specialist"):
        url, headers = await api.consultation_url(code, user), await api.as_official(user)
        r = await api.http.post(url, json={"opinion": "Đồng ý"}, headers=headers)
        assert r.status_code == 200, r.text
        again = await api.http.post(url, json={"opinion": "Lại"}, headers=headers)
        assert again.status_code == 409
    await api.wait_for_history(code, key, "consultation_answered", 2)
    steps = (await api.procedure(LAND))["steps"]
    for step in steps:
        user = f"{step['department'].lower()}.{step['role']}"
        assert (await api.act(code, user, "approve")).status_code == 200
    assert (await api.act(code, LAND_DESK, "confirm_payment")).status_code == 200
    await api.wait_for(code, key, "delivery")
    assert (await api.act(code, LAND_DESK, "deliver")).status_code == 200
    state = await api.wait_for(code, key, "done")
    assert (state["status_code"], state["outcome"]) == (10, "approved")
    return code


async def _drive_withdrawn(api: ApiClient) -> str:
    """Withdrawn while two departments are consulted: their child workflows are cancelled."""
    created = await api.submit(LAND)
    code, key = created["code"], created["lookup_key"]
    assert (await api.act(code, LAND_DESK, "accept")).status_code == 200
    assert (await api.act(code, "vpdk.specialist", "consult", note="Ý kiến?")).status_code == 200
    r = await api.http.post(
        f"/api/v1/dossiers/{code}/withdraw", json={"reason": "Rút"}, headers={"X-Lookup-Key": key}
    )
    assert r.status_code == 200, r.text
    assert (await api.act(code, LAND_DESK, "confirm_withdrawal")).status_code == 200
    state = await api.wait_for(code, key, "done")
    assert (state["status_code"], state["outcome"]) == (8, "withdrawn")
    return code


async def test_temporal_holds_no_plaintext_and_no_personal_data(
    api: ApiClient, stack: Stack, temporal_env: WorkflowEnvironment
) -> None:
    dossiers = [await _drive_household(api), await _drive_land(api), await _drive_withdrawn(api)]
    # No dossier path leaves a failure in its history (a refused action is refused by the
    # update's validator, which Temporal does not record), so a failed workflow of ours is read
    # too: the snapshot of a day not yet over (tomorrow, so at any hour).
    failed = f"encryption-snapshot-{uuid.uuid4().hex[:8]}"
    tomorrow = datetime.now(VN_TZ).date() + timedelta(days=1)
    with pytest.raises(WorkflowFailureError):
        await stack.client.execute_workflow(
            ServiceIndexSnapshotWorkflow.run,
            ServiceIndexSnapshotInput(tomorrow.isoformat()),
            id=failed,
            task_queue=stack.settings.temporal_task_queue,
        )

    # Read with a client that has no key, as anyone with access to Temporal would: the
    # dossiers' whole histories, their consultations' (child workflows), and the failed one.
    keyless = temporal_env.client
    walked: dict[str, Walked] = {}
    pending = [*dossiers, failed]
    while pending:
        workflow_id = pending.pop()
        walked[workflow_id] = await _walk(keyless, workflow_id)
        pending += walked[workflow_id].children
    for code in dossiers[1:]:
        assert sorted(walked[code].children) == [f"{code}-consult-1-{d}" for d in ("THUE", "TNMT")]
    found = [f for w in walked.values() for f in w.payloads]
    kinds = {f.kind for f in found}
    missing = EXPECTED_KINDS - kinds
    assert not missing, f"not found in any history: {missing}"

    # (a) Every payload encrypted, naming its key and nothing else (memo and headers too,
    # should any appear), except those Temporal must read itself.
    search_attributes = [f for f in found if ".search_attributes.indexed_fields" in f.kind]
    sdk_markers = [f for f in found if f.marker_detail in SDK_MARKER_DATA]
    ours = [f for f in found if f not in search_attributes and f not in sdk_markers]
    plain = [f.where for f in ours if f.payload.metadata.get("encoding") != ENCODING]
    assert plain == [], f"{len(plain)} payloads in plain text: {plain}"
    unnamed = [f.where for f in ours if set(f.payload.metadata) != {"encoding", KEY_ID}]
    assert unnamed == [], f"payloads with more metadata than their key's name: {unnamed}"
    # Search attributes: only ours and Temporal's own, as JSON (null when unset).
    assert search_attributes and all(
        f.payload.metadata.get("encoding") in (b"json/plain", b"binary/null")
        for f in search_attributes
    )
    allowed = {key.name for key in sa.ALL} | TEMPORAL_SEARCH_ATTRIBUTES
    indexed = {f.where.rsplit("[", 1)[1].rstrip("]") for f in search_attributes}
    assert indexed <= allowed, f"unknown search attributes: {indexed - allowed}"
    # SDK markers: the SDK's own JSON (a patch marker's is always there: RunVersion's).
    assert ("core_patch", "patch-data") in {f.marker_detail for f in sdk_markers}
    assert all(f.payload.metadata.get("encoding") == b"json/plain" for f in sdk_markers)
    # Failures: message and stack trace moved into their encrypted attributes.
    failures = [f for w in walked.values() for f in w.failures]
    assert failures, "no failure in any history: the failed snapshot workflow should have one"
    for where, failure in failures:
        assert failure.message == "Encoded failure" and not failure.stack_trace, where
        assert failure.HasField("encoded_attributes"), where

    # (b) No personal data anywhere once the encrypted payloads are opened (with the keys the
    # stack uses), nor in the unencrypted ones (search attributes, markers), nor in any other
    # field of the histories (ids, failures, …).
    codec = codec_from(stack.settings)
    leaks = []
    for f in found:
        payload = f.payload
        if payload.metadata.get("encoding") == ENCODING:
            [payload] = await codec.decode([payload])
            assert payload.metadata.get("encoding") != ENCODING, f"{f.where}: sealed twice"
        leaks += [f"{f.where}: {what}" for what in _personal_data_in(_contents(payload))]
    leaks += [
        f"{w} history: {what}" for w, h in walked.items() for what in _personal_data_in(h.raw)
    ]
    assert leaks == [], f"personal data in Temporal: {leaks}"


async def test_operators_read_payloads_through_the_codec_endpoint(
    api: ApiClient, stack: Stack
) -> None:
    code = (await api.submit(HKD))["code"]
    address = stack.settings.require_temporal_address()
    show = [embedded.venv_binary("temporal"), "workflow", "show", "-w", code, "--output", "json"]
    show += ["--address", address]
    sealed = json.loads(await _run(show))
    started_json = sealed["events"][0]["workflowExecutionStartedEventAttributes"]
    [payload] = started_json["input"]["payloads"]
    assert base64.b64decode(payload["metadata"]["encoding"]) == ENCODING
    assert b"1.001612" not in base64.b64decode(payload["data"])

    # Through the codec endpoint, with an operator's token, the CLI shows what it holds.
    token = await api.token("ops.operator")
    codec = ["--codec-endpoint", f"{stack.base_url}/codec", "--codec-auth", f"Bearer {token}"]
    readable = json.loads(await _run(show + codec))
    started_json = readable["events"][0]["workflowExecutionStartedEventAttributes"]
    [opened] = started_json["input"]["payloads"]
    content = base64.b64decode(opened["data"]).decode()
    assert "1.001612" in content
    assert APPLICANT["full_name"] not in content  # personal data never went in at all


PLAIN = {"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "MQ=="}]}


async def _sealed(stack: Stack) -> dict[str, Any]:
    """PLAIN as the API and the worker seal it."""
    [payload] = ParseDict(PLAIN, Payloads()).payloads
    return MessageToDict(Payloads(payloads=await codec_from(stack.settings).encode([payload])))


async def test_the_codec_endpoint_is_for_operators(api: ApiClient, stack: Stack) -> None:
    sealed = await _sealed(stack)
    assert (await api.http.post("/codec/decode", json=sealed)).status_code == 401
    desk = await api.as_official("bpmc.desk_officer")
    assert (await api.http.post("/codec/decode", json=sealed, headers=desk)).status_code == 403
    operator = await api.as_official("ops.operator")
    decoded = await api.http.post("/codec/decode", json=sealed, headers=operator)
    assert decoded.json() == PLAIN
    # It opens, never seals: only the API and the worker write what a dossier will read.
    assert (await api.http.post("/codec/encode", json=PLAIN, headers=operator)).status_code == 404
    # A payload it refuses comes back marked, for the operator to see why.
    refused = (await api.http.post("/codec/decode", json=PLAIN, headers=operator)).json()
    reason = refused["payloads"][0]["metadata"][REFUSED]
    assert base64.b64decode(reason) == b"not encrypted with the agency's payload key"
    broken = await api.http.post("/codec/decode", json={"payloads": 3}, headers=operator)
    assert broken.status_code == 400


async def test_the_web_ui_opens_payloads_with_the_operators_cookie(
    http: httpx.AsyncClient, demo_password: str, stack: Stack
) -> None:
    """The UI calls the codec from the operator's browser, with their cookie."""
    login = {"username": "ops.operator", "password": demo_password}
    r = await http.post("/api/v1/auth/token?codec_cookie=true", data=login)
    assert r.status_code == 200
    cookie = r.cookies["motcua_codec"]
    ui = {"Origin": stack.settings.temporal_ui_url}
    sealed = await _sealed(stack)
    async with httpx.AsyncClient(base_url=stack.base_url, headers=ui) as stranger:
        assert (await stranger.post("/codec/decode", json=sealed)).status_code == 401
    desk = await ApiClient(http, demo_password).token("bpmc.desk_officer")
    for token, expected in ((cookie, 200), (desk, 403)):
        async with httpx.AsyncClient(
            base_url=stack.base_url, headers=ui, cookies={"motcua_codec": token}
        ) as browser:
            r = await browser.post("/codec/decode", json=sealed)
            assert r.status_code == expected
            assert r.headers["access-control-allow-origin"] == stack.settings.temporal_ui_url

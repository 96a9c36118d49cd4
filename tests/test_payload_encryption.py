"""No plaintext in Temporal: every payload is encrypted (AES-256-GCM, key named in the payload),
and only an operator's token opens them through the codec endpoint."""

import asyncio
import base64
import json
import subprocess

import httpx
import pytest
from cryptography.exceptions import InvalidTag
from temporalio.api.common.v1 import Payload
from temporalio.testing import WorkflowEnvironment

from motcua import embedded
from motcua.codec import ENCODING, EncryptionCodec, UnknownKeyError
from tests.client import APPLICANT, ApiClient
from tests.conftest import Stack

OLD, NEW = b"o" * 32, b"n" * 32


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
    assert await after.decode([plain]) == [plain]  # written before encryption: passed through

    with pytest.raises(UnknownKeyError):
        await EncryptionCodec({"2026-11": NEW}, "2026-11").decode([sealed])
    tampered = Payload(metadata=sealed.metadata, data=sealed.data[:-1] + b"x")
    with pytest.raises(InvalidTag):
        await before.decode([tampered])


async def test_temporal_holds_no_plaintext_and_operators_can_read_it(
    api: ApiClient, stack: Stack, temporal_env: WorkflowEnvironment
) -> None:
    created = await api.submit("1.001612")
    code = created["code"]
    # Read with a client that has no key, as anyone with access to Temporal would.
    history = await temporal_env.client.get_workflow_handle(code).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    [payload] = started.input.payloads
    assert payload.metadata["encoding"] == ENCODING
    assert b"1.001612" not in payload.data and b"BPMC" not in payload.data

    address = stack.settings.require_temporal_address()
    show = [embedded.venv_binary("temporal"), "workflow", "show", "-w", code, "--output", "json"]
    show += ["--address", address]
    raw = await _run(show)
    assert "Thẩm định hồ sơ" not in raw and APPLICANT["full_name"] not in raw
    assert APPLICANT["id_number"] not in raw

    # Through the codec endpoint, with an operator's token, the CLI shows what it holds.
    token = await api.token("ops.operator")
    codec = ["--codec-endpoint", f"{stack.base_url}/codec", "--codec-auth", f"Bearer {token}"]
    readable = json.loads(await _run(show + codec))
    started_json = readable["events"][0]["workflowExecutionStartedEventAttributes"]
    [opened] = started_json["input"]["payloads"]
    content = base64.b64decode(opened["data"]).decode()
    assert "1.001612" in content
    assert APPLICANT["full_name"] not in content  # personal data never went in at all


async def test_the_codec_endpoint_is_for_operators(api: ApiClient) -> None:
    sealed = {"payloads": [{"metadata": {"encoding": base64.b64encode(ENCODING).decode()}}]}
    assert (await api.http.post("/codec/decode", json=sealed)).status_code == 401
    desk = await api.as_official("bpmc.desk_officer")
    assert (await api.http.post("/codec/decode", json=sealed, headers=desk)).status_code == 403
    operator = await api.as_official("ops.operator")
    plain = {"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "MQ=="}]}
    encoded = await api.http.post("/codec/encode", json=plain, headers=operator)
    assert encoded.status_code == 200
    decoded = await api.http.post("/codec/decode", json=encoded.json(), headers=operator)
    assert decoded.json() == plain
    broken = await api.http.post("/codec/decode", json={"payloads": 3}, headers=operator)
    assert broken.status_code == 400


@pytest.fixture
def api(http: httpx.AsyncClient, demo_password: str) -> ApiClient:
    return ApiClient(http, demo_password)


async def test_the_web_ui_opens_payloads_with_the_operators_cookie(
    http: httpx.AsyncClient, demo_password: str, stack: Stack
) -> None:
    """The UI calls the codec from the operator's browser, with their cookie."""
    login = {"username": "ops.operator", "password": demo_password}
    r = await http.post("/api/v1/auth/token?codec_cookie=true", data=login)
    assert r.status_code == 200
    cookie = r.cookies["motcua_codec"]
    ui = {"Origin": stack.settings.temporal_ui_url}
    plain = {"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "MQ=="}]}
    async with httpx.AsyncClient(base_url=stack.base_url, headers=ui) as stranger:
        assert (await stranger.post("/codec/encode", json=plain)).status_code == 401
    desk = await ApiClient(http, demo_password).token("bpmc.desk_officer")
    for token, expected in ((cookie, 200), (desk, 403)):
        async with httpx.AsyncClient(
            base_url=stack.base_url, headers=ui, cookies={"motcua_codec": token}
        ) as browser:
            r = await browser.post("/codec/encode", json=plain)
            assert r.status_code == expected
            assert r.headers["access-control-allow-origin"] == stack.settings.temporal_ui_url

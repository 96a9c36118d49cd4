"""The gateway's callback: only a fresh, correctly signed one changes anything, and only once."""

import json
import time

import httpx

from api.security import gateway_signature
from motcua.settings import Settings
from store.db import Sessionmaker
from store.models import Dossier
from tests.client import DESK, ApiClient, username

CALLBACK = "/api/v1/payments/callback"


def _signed(settings: Settings, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    secret = settings.payment_callback_secret.get_secret_value()
    return {
        "Content-Type": "application/json",
        "X-Gateway-Timestamp": ts,
        "X-Gateway-Signature": gateway_signature(secret, ts, body),
    }


BODY = json.dumps(
    {
        "event_id": "evt-test-1",
        "payment_id": "SBX-NOPE",
        "merchant_ref": "000.00.15.H39-200101-0001",
        "amount_vnd": 100000,
        "status": "paid",
        "paid_at": "2026-11-28T08:00:00+07:00",
    }
).encode()


async def test_bad_signature_stale_timestamp_and_unknown_payment(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    headers = _signed(settings, BODY)
    tampered = BODY.replace(b"100000", b"1")
    r = await http.post(CALLBACK, content=tampered, headers=headers)
    assert r.status_code == 401 and "signature" in r.text
    stale = _signed(settings, BODY, timestamp=int(time.time()) - 3600)
    r = await http.post(CALLBACK, content=BODY, headers=stale)
    assert r.status_code == 401 and "window" in r.text
    r = await http.post(CALLBACK, content=BODY)
    assert r.status_code == 422  # headers missing
    r = await http.post(CALLBACK, content=BODY, headers=headers)
    assert r.status_code == 404  # signed, but no such payment


async def test_a_replayed_callback_changes_nothing(
    http: httpx.AsyncClient, settings: Settings, demo_password: str, sessionmaker: Sessionmaker
) -> None:
    api = ApiClient(http, demo_password)
    created = await api.submit("1.001612")
    code, key = created["code"], created["lookup_key"]
    await api.act(code, DESK, "accept")
    for step in (await api.procedure("1.001612"))["steps"]:
        await api.act(code, username(step["department"], step["role"]), "approve")
    payment = await http.get(f"/api/v1/dossiers/{code}/payment", headers={"X-Lookup-Key": key})
    paid = await http.post(payment.json()["pay_url"])
    assert paid.json()["callback_status"] == 200
    # The gateway sends the same event again (pressing "pay" twice): deduplicated.
    again = await http.post(payment.json()["pay_url"])
    assert again.status_code == 200
    state = await api.wait_for(code, key, "done")
    assert [e["action"] for e in state["history"]].count("paid") == 1
    async with sessionmaker() as session:  # counted as paid online in the service index
        assert (await session.get_one(Dossier, code)).paid_online

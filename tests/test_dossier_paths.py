"""The other ways a dossier ends, and every refusal the API gives a wrong or stale request."""

import json
import uuid
from datetime import datetime, timedelta

import pytest

from tests.client import APPLICANT, DESK, ApiClient, pdf_text
from tests.conftest import Stack

HKD = "1.001612"  # household business: full online, fee, 3 review steps (KT, KT, LD)
KS = "2.000815"  # certified copy: partial online, one step (TPHT)


def _next_day(day: str) -> str:
    """The day after a dossier code's `YYMMDD`, as written in codes."""
    return f"{datetime.strptime(day, '%y%m%d').date() + timedelta(days=1):%y%m%d}"


async def test_refusal_at_intake(api: ApiClient) -> None:
    created = await api.submit(HKD)
    code, key = created["code"], created["lookup_key"]
    r = await api.act(code, DESK, "refuse", note="Không thuộc thẩm quyền giải quyết")
    assert r.status_code == 200, r.text
    assert (r.json()["status_code"], r.json()["stage"]) == (3, "done")
    state = await api.status(code, key)
    assert (state["status_code"], state["outcome"], state["current_step"]) == (3, "refused", None)
    assert state["history"][-1]["note"] == "Không thuộc thẩm quyền giải quyết"
    # Nothing more can be done to it.
    r = await api.act(code, DESK, "accept")
    assert r.status_code == 409, r.text


async def test_rejection_at_review_returns_a_written_refusal(api: ApiClient) -> None:
    created = await api.submit(HKD)
    code, key = created["code"], created["lookup_key"]
    assert (await api.act(code, DESK, "accept")).status_code == 200
    r = await api.act(code, "kt.specialist", "reject", note="Tên hộ kinh doanh bị trùng")
    assert r.status_code == 200, r.text
    state = await api.wait_for(code, key, "done")
    assert (state["status_code"], state["outcome"]) == (10, "rejected")
    assert "approve" not in [e["action"] for e in state["history"]]
    result = await api.http.get(f"/api/v1/dossiers/{code}/result", headers={"X-Lookup-Key": key})
    assert result.status_code == 200
    assert "Tên hộ kinh doanh bị trùng" in pdf_text(result.content)
    # A rejected dossier asks for no fee.
    payment = await api.http.get(f"/api/v1/dossiers/{code}/payment", headers={"X-Lookup-Key": key})
    assert payment.status_code == 404


async def test_wrong_department_is_403_and_wrong_step_is_409(api: ApiClient) -> None:
    created = await api.submit(HKD)
    code = created["code"]
    # At intake: a specialist whose step is still to come has no part in it yet, and
    # "approve" does not fit intake.
    r = await api.act(code, "kt.specialist", "accept")
    assert r.status_code == 403, r.text
    assert "(yet)" in r.json()["detail"]
    r = await api.act(code, DESK, "approve")
    assert r.status_code == 409, r.text
    assert "intake" in r.json()["detail"]
    assert (await api.act(code, DESK, "accept")).status_code == 200
    # The leader's step is not yet: the KT specialist's is.
    r = await api.act(code, "ld.leader", "approve")
    assert r.status_code == 403, r.text
    # A stale click: the official saw step "intake" but the dossier moved on.
    r = await api.act(code, DESK, "accept", step_key="intake")
    assert r.status_code == 409, r.text
    r = await api.act(code, "kt.specialist", "approve", step_key="truong_phong")
    assert r.status_code == 409 and "stale" in r.json()["detail"], r.text
    # A negative decision needs a reason.
    r = await api.act(code, "kt.specialist", "reject")
    assert r.status_code == 422, r.text
    # An official of a department with no step in the dossier may not even look.
    r = await api.act(code, "tpht.specialist", "approve")
    assert r.status_code == 403, r.text
    r = await api.http.get(
        f"/api/v1/dossiers/{code}", headers=await api.as_official("vpdk.specialist")
    )
    assert r.status_code == 403


async def test_a_retried_click_is_applied_once(api: ApiClient) -> None:
    created = await api.submit(HKD)
    code = created["code"]
    assert (await api.act(code, DESK, "accept")).status_code == 200
    key = {"Idempotency-Key": uuid.uuid4().hex}
    headers = {**await api.as_official("kt.specialist"), **key}
    url = f"/api/v1/dossiers/{code}/actions"
    first = await api.http.post(url, json={"action": "approve"}, headers=headers)
    again = await api.http.post(url, json={"action": "approve"}, headers=headers)
    assert first.status_code == again.status_code == 200, again.text
    assert first.json() == again.json()
    state = await api.status(code, created["lookup_key"])
    assert [e["action"] for e in state["history"]].count("approve") == 1
    assert state["current_step"]["key"] == "truong_phong"
    # The same key on another official's action is that action, not a replay of the first.
    headers = {**await api.as_official("kt.head"), **key}
    r = await api.http.post(url, json={"action": "reject", "note": "Thiếu"}, headers=headers)
    assert r.status_code == 200 and r.json()["stage"] in ("delivery", "done"), r.text


async def test_a_gateway_dossier_is_not_paid_at_the_desk(api: ApiClient) -> None:
    created = await api.submit(HKD)
    code = created["code"]
    await api.act(code, DESK, "accept")
    for user in ("kt.specialist", "kt.head", "ld.leader"):
        r = await api.act(code, user, "approve")
    assert r.json()["current_step"]["role"] == "applicant"
    r = await api.act(code, DESK, "confirm_payment")
    assert r.status_code == 409 and "gateway" in r.json()["detail"]


async def test_operators_see_the_procedure_and_where_it_stands(
    api: ApiClient, stack: Stack
) -> None:
    created = await api.submit(KS)
    assert (await api.act(created["code"], DESK, "accept")).status_code == 200
    handle = stack.client.get_workflow_handle(created["code"])
    summary = await (await handle.describe()).static_summary()
    assert summary == "Chứng thực bản sao từ bản chính (2.000815)"
    metadata = await handle.query("__temporal_workflow_metadata")
    assert "Công chức tư pháp chứng thực — TPHT — hạn" in str(metadata)
    assert APPLICANT["full_name"] not in summary + str(metadata)


async def test_a_code_the_engine_already_knows_is_skipped(api: ApiClient, stack: Stack) -> None:
    # Once more if the Vietnamese day changed between the two submissions (the second then
    # starts the new day's counter, and the taken code was never in its way).
    for _ in range(2):
        first = (await api.submit(KS))["code"]
        agency, day, seq = first.rsplit("-", 2)
        taken = f"{agency}-{day}-{int(seq) + 1:04d}"
        # A workflow the database does not know about (say, the database was restored).
        stranger = await stack.client.start_workflow(
            "SomethingElse", id=taken, task_queue=f"nobody-{uuid.uuid4().hex}"
        )
        try:
            after = (await api.submit(KS))["code"]
            assert (await stranger.describe()).status is not None  # untouched
        finally:
            await stranger.terminate()
        if after != f"{agency}-{_next_day(day)}-0001":
            assert after == f"{agency}-{day}-{int(seq) + 2:04d}"
            return
    pytest.fail("the day changed at every attempt")


async def test_unknown_code_and_wrong_key_are_the_same_404(api: ApiClient) -> None:
    created = await api.submit(KS)
    code = created["code"]
    wrong_key = await api.http.get(f"/api/v1/dossiers/{code}", headers={"X-Lookup-Key": "X" * 16})
    unknown = await api.http.get(
        "/api/v1/dossiers/000.00.15.H39-200101-9999", headers={"X-Lookup-Key": "X" * 16}
    )
    garbage = await api.http.get("/api/v1/dossiers/nonsense", headers={"X-Lookup-Key": "X" * 16})
    assert wrong_key.status_code == unknown.status_code == garbage.status_code == 404
    assert wrong_key.json() == unknown.json() == garbage.json()
    no_key = await api.http.get(f"/api/v1/dossiers/{code}")
    assert no_key.status_code == 401
    r = await api.act("000.00.15.H39-200101-9999", DESK, "accept")
    assert r.status_code == 404
    r = await api.http.get("/api/v1/procedures/9.999999")
    assert r.status_code == 404


async def test_officials_need_a_valid_token(api: ApiClient) -> None:
    created = await api.submit(KS)
    code = created["code"]
    r = await api.http.post(f"/api/v1/dossiers/{code}/actions", json={"action": "accept"})
    assert r.status_code == 401
    r = await api.http.post(
        f"/api/v1/dossiers/{code}/actions",
        json={"action": "accept"},
        headers={"Authorization": "Bearer forged.token.value"},
    )
    assert r.status_code == 401
    r = await api.http.post(
        "/api/v1/auth/token", data={"username": DESK, "password": "wrong password"}
    )
    assert r.status_code == 401
    assert (await api.http.get("/api/v1/tasks")).status_code == 401


@pytest.mark.parametrize(
    "change, message",
    [
        ({"procedure_code": "9.999999"}, "unknown procedure_code"),
        ({"channel": "fax"}, "channel"),
        ({"status_code": 10}, "status_code"),  # clients never set status
        ({"applicant": {**APPLICANT, "id_number": "123"}}, "12-digit"),
        ({"delivery": {"method": "post"}}, "address"),
        ({"delivery": {"method": "online"}}, "partial online"),
        ({"documents": []}, "required components missing"),
        ({"documents": [{"component": "BC", "file_id": str(uuid.uuid4())}]}, "unknown file_id"),
        ({"documents": [{"component": "XYZ", "file_id": str(uuid.uuid4())}]}, "not in procedure"),
    ],
)
async def test_malformed_submissions_are_422(
    api: ApiClient, change: dict[str, object], message: str
) -> None:
    body = {**await api.submission(KS), **change}
    r = await api.http.post("/api/v1/dossiers", json=body)
    assert r.status_code == 422, r.text
    assert message in r.text


async def test_malformed_actions_are_422(api: ApiClient) -> None:
    created = await api.submit(KS)
    headers = await api.as_official(DESK)
    for body in ({"action": "teleport"}, {}, {"action": "accept", "actor": "someone"}):
        r = await api.http.post(
            f"/api/v1/dossiers/{created['code']}/actions", json=body, headers=headers
        )
        assert r.status_code == 422, (body, r.text)


async def test_idempotent_submission(api: ApiClient) -> None:
    body = await api.submission(KS)
    headers = {"Idempotency-Key": f"portal-{uuid.uuid4()}"}
    first = await api.http.post("/api/v1/dossiers", json=body, headers=headers)
    again = await api.http.post("/api/v1/dossiers", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = await api.http.post(
        "/api/v1/dossiers", json={**body, "form": {"khac": 1}}, headers=headers
    )
    assert other.status_code == 422 and "Idempotency-Key" in other.text
    # No key: two submissions are two dossiers, with consecutive codes (the next number of the
    # day, or the first of the next when the Vietnamese day changed between them).
    a = (await api.http.post("/api/v1/dossiers", json=body)).json()["code"]
    b = (await api.http.post("/api/v1/dossiers", json=body)).json()["code"]
    agency, day, seq = a.rsplit("-", 2)
    assert b in (f"{agency}-{day}-{int(seq) + 1:04d}", f"{agency}-{_next_day(day)}-0001"), (a, b)


async def test_inbox_lists_the_departments_open_tasks(api: ApiClient) -> None:
    created = await api.submit(KS)
    code = created["code"]
    headers = await api.as_official(DESK)
    inbox = (await api.http.get("/api/v1/tasks?limit=200", headers=headers)).json()
    assert code in [t["code"] for t in inbox]
    assert (await api.act(code, DESK, "accept")).status_code == 200
    inbox = (await api.http.get("/api/v1/tasks?limit=200", headers=headers)).json()
    assert code not in [t["code"] for t in inbox]
    theirs = await api.http.get(
        "/api/v1/tasks?limit=200", headers=await api.as_official("tpht.specialist")
    )
    task = next(t for t in theirs.json() if t["code"] == code)
    assert task["step"]["key"] == "chung_thuc" and task["step"]["due_at"]


async def test_without_a_worker_status_comes_from_the_read_model(
    api: ApiClient, stack: Stack
) -> None:
    created = await api.submit(KS)
    code, key = created["code"], created["lookup_key"]
    assert (await api.act(code, DESK, "accept")).status_code == 200
    await stack.stop_worker()
    try:
        # Nothing in flight: the read model is provably the workflow's state, worker or not.
        settled = await api.status(code, key)
        # An action cannot be confirmed without a worker: a 503 within the budget, no hang.
        r = await api.act(code, "tpht.specialist", "approve")
        assert r.status_code == 503 and "did not confirm" in r.json()["detail"]
        assert r.headers["Retry-After"] == "5"
        # The action now waits in the engine for a worker: the read model may be behind, the
        # workflow cannot say, so the answer is the snapshot, labelled as such.
        waiting = await api.status(code, key)
    finally:
        stack.start_worker()
    assert (settled["source"], waiting["source"]) == ("recorded", "snapshot")
    for state in (settled, waiting):
        assert (state["stage"], state["status_code"]) == ("review", 4)
        assert state["current_step"]["key"] == "chung_thuc"
        assert [e["action"] for e in state["history"]][:2] == ["submitted", "step_started"]


async def test_files_and_health(api: ApiClient) -> None:
    r = await api.http.post(
        "/api/v1/files", files={"file": ("a.pdf", b"%PDF-1.4 x", "application/pdf")}
    )
    assert r.status_code == 201
    body = r.json()
    assert body["size"] == 10 and len(body["sha256"]) == 64
    r = await api.http.post("/api/v1/files", files={"file": ("e.pdf", b"", "application/pdf")})
    assert r.status_code == 422
    r = await api.http.post("/api/v1/files")
    assert r.status_code == 422
    # The type is told by the content, never by the name or the declared type.
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
    r = await api.http.post("/api/v1/files", files={"file": ("scan.pdf", png, "application/pdf")})
    assert r.status_code == 201 and r.json()["content_type"] == "image/png"
    script = b"#!/bin/sh\nrm -rf /\n"
    r = await api.http.post("/api/v1/files", files={"file": ("a.pdf", script, "application/pdf")})
    assert r.status_code == 415 and "application/pdf" in r.json()["detail"]
    health = await api.http.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}


@pytest.mark.parametrize(
    "change",
    [
        {"applicant": {**APPLICANT, "full_name": "Nguyễn\x00An"}},
        {"form": {"ghi_chu": "a\x00b"}},
        {"form": {"nested": [{"x": "\ud800"}]}},
        {"form": {"so": float("inf")}},
    ],
)
async def test_unstorable_text_and_numbers_are_422(
    api: ApiClient, change: dict[str, object]
) -> None:
    body = json.dumps({**await api.submission(KS), **change}, allow_nan=True)
    r = await api.http.post(
        "/api/v1/dossiers", content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422, r.text


async def test_hostile_names_and_ids_are_not_500(api: ApiClient) -> None:
    created = await api.submit(KS)
    r = await api.http.get(
        f"/api/v1/dossiers/{created['code']}", headers={b"X-Lookup-Key": "é".encode("latin-1")}
    )
    assert r.status_code == 404
    deep: object = "x"
    for _ in range(200):
        deep = {"d": deep}
    body = {**await api.submission(KS), "form": deep}
    assert (await api.http.post("/api/v1/dossiers", json=body)).status_code == 422
    r = await api.http.post("/api/v1/auth/token", data={"username": "\x00", "password": "x"})
    assert r.status_code == 401
    assert (await api.http.get("/sandbox/pay/%00")).status_code == 422
    r = await api.http.post(
        "/api/v1/files", files={"file": ("a\x00\x01.pdf", b"%PDF-1.4", "application/pdf")}
    )
    assert r.status_code == 201


async def test_withdrawal_stops_processing_once_the_desk_confirms(api: ApiClient) -> None:
    created = await api.submit(HKD)
    code, key = created["code"], created["lookup_key"]
    assert (await api.act(code, DESK, "accept")).status_code == 200
    url = f"/api/v1/dossiers/{code}/withdraw"
    r = await api.http.post(
        url, json={"reason": "Không còn nhu cầu"}, headers={"X-Lookup-Key": key}
    )
    assert r.status_code == 200, r.text
    assert r.json()["status_code"] == 7
    assert r.json()["current_step"]["key"] == "withdrawal"
    first_answer = r.json()
    # Nothing else is accepted now; asking again (a retry) gets the same answer.
    r = await api.act(code, "kt.specialist", "approve")
    assert r.status_code == 409 and "withdraw" in r.json()["detail"]
    again = await api.http.post(url, json={}, headers={"X-Lookup-Key": key})
    assert again.status_code == 200 and again.json() == first_answer
    r = await api.act(code, DESK, "confirm_withdrawal")
    assert r.status_code == 200, r.text
    state = await api.status(code, key)
    assert (state["status_code"], state["stage"], state["outcome"]) == (8, "done", "withdrawn")
    notes = [e["note"] for e in state["history"] if e["action"] == "withdrawal_requested"]
    assert notes == ["Không còn nhu cầu"]


async def test_withdrawal_rules(api: ApiClient) -> None:
    created = await api.submit(KS)
    code, key = created["code"], created["lookup_key"]
    url = f"/api/v1/dossiers/{code}/withdraw"
    # Only the applicant, with the key; nobody confirms a withdrawal not asked for.
    assert (await api.http.post(url, json={})).status_code == 401
    r = await api.act(code, DESK, "confirm_withdrawal")
    assert r.status_code == 409 and "not asked" in r.json()["detail"]
    # Withdrawn at intake, confirmed, stopped.
    assert (await api.http.post(url, json={}, headers={"X-Lookup-Key": key})).status_code == 200
    assert (await api.act(code, DESK, "confirm_withdrawal")).status_code == 200
    assert (await api.status(code, key))["status_code"] == 8
    # Once the result is processed (status 9), it is too late.
    processed = await api.submit(KS)
    await api.act(processed["code"], DESK, "accept")
    await api.act(processed["code"], "tpht.specialist", "approve")
    await api.act(processed["code"], DESK, "confirm_payment")
    r = await api.http.post(
        f"/api/v1/dossiers/{processed['code']}/withdraw",
        json={},
        headers={"X-Lookup-Key": processed["lookup_key"]},
    )
    assert r.status_code == 409 and "processed" in r.json()["detail"]


async def test_a_withdrawn_dossiers_fee_is_cancelled_or_owed_back(api: ApiClient) -> None:
    async def at_payment() -> tuple[str, dict[str, str], str]:
        created = await api.submit(HKD)
        code, applicant = created["code"], {"X-Lookup-Key": created["lookup_key"]}
        await api.act(code, DESK, "accept")
        for user in ("kt.specialist", "kt.head", "ld.leader"):
            await api.act(code, user, "approve")
        payment = await api.http.get(f"/api/v1/dossiers/{code}/payment", headers=applicant)
        return code, applicant, payment.json()["pay_url"]

    # Withdrawn before paying: the payment is cancelled.
    code, applicant, _ = await at_payment()
    await api.http.post(f"/api/v1/dossiers/{code}/withdraw", json={}, headers=applicant)
    await api.act(code, DESK, "confirm_withdrawal")
    payment = await api.http.get(f"/api/v1/dossiers/{code}/payment", headers=applicant)
    assert (payment.json()["status"], payment.json()["pay_url"]) == ("cancelled", None)

    # Paid after asking to withdraw: the money is owed back, the dossier still stops.
    code, applicant, pay_url = await at_payment()
    await api.http.post(f"/api/v1/dossiers/{code}/withdraw", json={}, headers=applicant)
    assert (await api.http.post(pay_url)).json()["callback_status"] == 200
    await api.act(code, DESK, "confirm_withdrawal")
    payment = await api.http.get(f"/api/v1/dossiers/{code}/payment", headers=applicant)
    assert payment.json()["status"] == "refund_due"
    assert (await api.status(code, applicant["X-Lookup-Key"]))["status_code"] == 8


async def test_a_step_returns_the_dossier_to_the_previous_one(api: ApiClient) -> None:
    created = await api.submit(HKD)
    code, key = created["code"], created["lookup_key"]
    await api.act(code, DESK, "accept")
    r = await api.act(code, "kt.specialist", "return", note="Không có bước trước")
    assert r.status_code == 409 and "first review step" in r.json()["detail"]
    await api.act(code, "kt.specialist", "approve")
    assert (await api.act(code, "kt.head", "return")).status_code == 422  # reason required
    r = await api.act(code, "kt.head", "return", note="Bổ sung ý kiến thẩm định")
    assert r.status_code == 200, r.text
    assert r.json()["current_step"]["key"] == "tham_dinh"
    await api.act(code, "kt.specialist", "approve")
    r = await api.act(code, "kt.head", "approve")
    assert r.json()["current_step"]["key"] == "phe_duyet"
    history = (await api.status(code, key))["history"]
    assert [e["step"] for e in history if e["action"] == "return"] == ["truong_phong"]

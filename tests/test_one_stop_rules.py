"""The one-stop rules over HTTP, on the real stack: supplements, reassignment, the desk's
apology with a new appointment, consultations, the forms issued as PDFs, and every status of
the national list."""

import asyncio
import hashlib
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from domain.calendar import VN_TZ
from store.dossiers import recent_notifications
from store.models import Consultation, Dossier
from tests.client import DESK, ApiClient, pdf_text
from tests.conftest import Stack

HKD = "1.001612"  # household business: full online, fee, 3 review steps (KT, KT, LD)
LAND = "1.012778"  # land-use certificate: the first step (VPDK) consults TNMT and THUE
LAND_DESK = "vpdk_mc.desk_officer"


async def _supplement(
    api: ApiClient, code: str, key: str, components: list[str], retries: int = 0
) -> httpx.Response:
    """The applicant uploads the components and sends them (then sends the same again
    `retries` times, as a client that did not see the answer would)."""
    documents = [{"component": c, "file_id": await api.upload()} for c in components]
    for _ in range(retries + 1):
        r = await api.http.post(
            f"/api/v1/dossiers/{code}/supplement",
            json={"documents": documents, "note": "Đã bổ sung"},
            headers={"X-Lookup-Key": key},
        )
    return r


async def _documents(api: ApiClient, code: str, key: str) -> dict[str, list[dict[str, Any]]]:
    r = await api.http.get(f"/api/v1/dossiers/{code}/documents", headers={"X-Lookup-Key": key})
    assert r.status_code == 200, r.text
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for document in r.json():
        by_kind.setdefault(document["kind"], []).append(document)
    return by_kind


async def _pdf(api: ApiClient, key: str, document: dict[str, Any]) -> str:
    r = await api.http.get(document["url"], headers={"X-Lookup-Key": key})
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    return pdf_text(r.content)


async def test_a_supplement_at_intake_stops_the_clock_and_comes_back_to_the_desk(
    api: ApiClient,
) -> None:
    created = await api.submit(HKD)
    code, key = created["code"], created["lookup_key"]
    r = await api.act(
        code, DESK, "request_supplement", note="Thiếu hợp đồng thuê địa điểm", components=["HDTN"]
    )
    assert r.status_code == 200, r.text
    assert r.json()["status_code"] == 5
    assert r.json()["current_step"]["role"] == "applicant"
    state = await api.status(code, key)
    assert (state["status_code"], state["supplement_requests"], state["late"]) == (5, 1, False)

    # The desk waits for the applicant; form 02 lists what is missing.
    assert (await api.act(code, DESK, "accept")).status_code == 409
    # The clock is stopped: no apology while the applicant has the dossier.
    later = {
        "new_due_at": (datetime.fromisoformat(state["due_at"]) + timedelta(days=7)).isoformat()
    }
    assert (await api.act(code, DESK, "extend", note="Chờ", **later)).status_code == 409
    form02 = (await _documents(api, code, key))["supplement_request"]
    text = await _pdf(api, key, form02[0])
    assert code in text and "Hợp đồng thuê địa điểm kinh doanh" in text

    # The applicant must send what was asked for, nothing unknown, and only when asked.
    assert (await _supplement(api, code, key, ["GDN"])).status_code == 422
    assert (await _supplement(api, code, key, ["XYZ"])).status_code == 422
    r = await _supplement(api, code, key, ["HDTN"], retries=1)  # a retry gets the same answer
    assert r.status_code == 200, r.text
    assert (r.json()["status_code"], r.json()["current_step"]["key"]) == (1, "intake")
    assert (await _supplement(api, code, key, ["HDTN"])).status_code == 409  # not asked now
    state = await api.status(code, key)
    actions = [e["action"] for e in state["history"]]
    assert actions[-3:] == ["request_supplement", "step_started", "supplemented"]

    assert (await api.act(code, DESK, "accept")).status_code == 200
    assert "receipt" in await _documents(api, code, key)


async def test_a_second_supplement_request_makes_the_dossier_late(
    api: ApiClient, stack: Stack
) -> None:
    created = await api.submit(HKD)
    code, key = created["code"], created["lookup_key"]
    await api.act(code, DESK, "request_supplement", note="Thiếu", components=["HDTN"])
    await _supplement(api, code, key, ["HDTN"])
    await api.act(code, DESK, "accept")
    r = await api.act(
        code, "kt.specialist", "request_supplement", note="Ảnh chụp bị mờ", components=["GDN"]
    )
    assert r.status_code == 200, r.text
    assert (await _supplement(api, code, key, ["GDN"])).status_code == 200
    state = await api.status(code, key)
    assert (state["status_code"], state["current_step"]["key"]) == (4, "tham_dinh")
    assert (state["supplement_requests"], state["late"], state["overdue"]) == (2, True, False)
    assert len((await _documents(api, code, key))["supplement_request"]) == 2
    async with stack.sessionmaker() as session:
        row = await session.get_one(Dossier, code)
        assert row.supplement_requests == 2 and len(row.documents) == 4


async def test_a_supplement_request_needs_the_list_of_what_is_missing(api: ApiClient) -> None:
    code = (await api.submit(HKD))["code"]
    assert (await api.act(code, DESK, "request_supplement")).status_code == 422
    r = await api.act(code, DESK, "request_supplement", note="Thiếu", components=[])
    assert r.status_code == 422 and "components" in r.text
    r = await api.act(code, DESK, "request_supplement", note="Thiếu", components=["NOPE"])
    assert r.status_code == 422 and "NOPE" in r.text


async def test_the_head_hands_a_step_to_another_official(api: ApiClient) -> None:
    created = await api.submit(HKD)
    code, key = created["code"], created["lookup_key"]
    await api.act(code, DESK, "accept")
    assert (await api.act(code, "kt.head", "reassign")).status_code == 422  # to whom?
    # Not the desk's to hand on, even to one of its own.
    r = await api.act(code, DESK, "reassign", assignee="bpmc.desk_officer2")
    assert r.status_code == 403
    r = await api.act(code, "kt.head", "reassign", note="Cân đối việc", assignee="ld.leader")
    assert r.status_code == 422 and "ld.leader" in r.text
    r = await api.act(code, "kt.head", "reassign", assignee="kt.specialist2")
    assert r.status_code == 200, r.text
    assert r.json()["current_step"]["assignee"] == "kt.specialist2"

    # Only the assignee acts on it now, and it leaves the others' inboxes.
    r = await api.act(code, "kt.specialist", "approve")
    assert r.status_code == 403 and "kt.specialist2" in r.json()["detail"]
    inbox = await api.http.get("/api/v1/tasks", headers=await api.as_official("kt.specialist"))
    assert code not in [t["code"] for t in inbox.json()]
    headers = await api.as_official("kt.specialist2")
    inbox = await api.http.get("/api/v1/tasks?limit=200", headers=headers)
    assert code in [t["code"] for t in inbox.json()]
    alerts = await api.http.get("/api/v1/alerts", headers=headers)
    assert any(a["dossier_code"] == code and a["kind"] == "assigned" for a in alerts.json())

    assert (await api.act(code, "kt.specialist2", "approve")).status_code == 200
    state = await api.status(code, key)
    assert state["current_step"]["key"] == "truong_phong"
    assert state["current_step"]["assignee"] is None


async def test_the_desk_apologises_with_a_new_appointment(api: ApiClient, stack: Stack) -> None:
    created = await api.submit(HKD)
    code, key = created["code"], created["lookup_key"]
    await api.act(code, DESK, "accept")
    due = datetime.fromisoformat((await api.status(code, key))["due_at"])
    # Three working days later at 09:00 is in office hours (never on a weekend here).
    later = due.astimezone(VN_TZ).replace(hour=9, minute=0) + timedelta(days=7)
    while later.weekday() >= 5:
        later += timedelta(days=1)

    assert (await api.act(code, DESK, "extend", note="Chờ xác minh")).status_code == 422
    earlier = {"new_due_at": (due - timedelta(hours=1)).isoformat()}
    assert (await api.act(code, DESK, "extend", note="Chờ", **earlier)).status_code == 422
    at_night = {"new_due_at": later.replace(hour=22).isoformat()}
    assert (await api.act(code, DESK, "extend", note="Chờ", **at_night)).status_code == 422
    too_far = {"new_due_at": later.replace(year=later.year + 2).isoformat()}
    r = await api.act(code, DESK, "extend", note="Chờ", **too_far)
    assert r.status_code == 422 and "365 days" in r.text
    new = {"new_due_at": later.isoformat()}
    assert (await api.act(code, "kt.specialist", "extend", note="Chờ", **new)).status_code == 403

    r = await api.act(code, DESK, "extend", note="Chờ ý kiến cơ quan thuế", **new)
    assert r.status_code == 200, r.text
    # The step stays where it was; the appointment moved, and the applicant was told.
    assert (r.json()["status_code"], r.json()["current_step"]["key"]) == (4, "tham_dinh")
    state = await api.status(code, key)
    assert datetime.fromisoformat(state["due_at"]) == later
    apology = (await _documents(api, code, key))["apology"][0]
    text = await _pdf(api, key, apology)
    assert "Chờ ý kiến cơ quan thuế" in text and later.strftime("%d/%m/%Y") in text
    async with stack.sessionmaker() as session:
        sent = await recent_notifications(session, code, 100)
    assert any("xin lỗi" in n.message for n in sent)


async def test_a_step_consults_other_departments_in_parallel(api: ApiClient) -> None:
    created = await api.submit(LAND)
    code, key = created["code"], created["lookup_key"]
    await api.act(code, LAND_DESK, "accept")
    r = await api.act(code, "vpdk.specialist", "consult", departments=["KT"])
    assert r.status_code == 422  # not a department this step consults
    r = await api.act(code, "vpdk.specialist", "consult", note="Nguồn gốc đất, nghĩa vụ thuế?")
    assert r.status_code == 200, r.text
    assert (await api.act(code, "vpdk.specialist", "approve")).status_code == 409

    answers = {"tnmt.specialist": "Đất ở ổn định từ 1990", "thue.specialist": "Miễn tiền SDĐ"}
    for user, opinion in answers.items():
        headers = await api.as_official(user)
        asked = (await api.http.get("/api/v1/consultations", headers=headers)).json()
        mine = [c for c in asked if c["dossier_code"] == code]
        assert len(mine) == 1 and mine[0]["question"] == "Nguồn gốc đất, nghĩa vụ thuế?"
        url = f"/api/v1/consultations/{mine[0]['id']}/answer"
        wrong = await api.as_official("vpdk.specialist")
        assert (await api.http.post(url, json={"opinion": "x"}, headers=wrong)).status_code == 403
        r = await api.http.post(url, json={"opinion": opinion}, headers=headers)
        assert r.status_code == 200, r.text
        retry = await api.http.post(url, json={"opinion": opinion}, headers=headers)
        assert retry.status_code in (200, 409)  # the same answer, or the consultation is over
        again = await api.http.post(url, json={"opinion": "lại"}, headers=headers)
        assert again.status_code == 409

    await api.wait_for_history(code, key, "consultation_answered", 2)
    # The opinions are for the officials: the applicant sees that they came, not what they say.
    applicants_view = await api.status(code, key)
    noted = [e for e in applicants_view["history"] if e["action"] == "consultation_answered"]
    assert [e["note"] for e in noted] == [None, None]
    r = await api.http.get(
        f"/api/v1/dossiers/{code}", headers=await api.as_official("vpdk.specialist")
    )
    noted = [e for e in r.json()["history"] if e["action"] == "consultation_answered"]
    assert {e["note"] for e in noted} == {
        f"TNMT: {answers['tnmt.specialist']}",
        f"THUE: {answers['thue.specialist']}",
    }
    assert (await api.act(code, "vpdk.specialist", "approve")).status_code == 200


async def test_a_withdrawal_during_a_consultation_stops_it(api: ApiClient, stack: Stack) -> None:
    created = await api.submit(LAND)
    code, key = created["code"], created["lookup_key"]
    await api.act(code, LAND_DESK, "accept")
    assert (await api.act(code, "vpdk.specialist", "consult", note="Ý kiến?")).status_code == 200
    r = await api.http.post(
        f"/api/v1/dossiers/{code}/withdraw", json={}, headers={"X-Lookup-Key": key}
    )
    assert r.status_code == 200 and r.json()["status_code"] == 7, r.text
    r = await api.act(code, LAND_DESK, "confirm_withdrawal")
    assert r.status_code == 200 and r.json()["status_code"] == 8, r.text
    async with asyncio.timeout(20):
        while True:
            async with stack.sessionmaker() as session:
                rows = await session.scalars(
                    select(Consultation.status).where(Consultation.dossier_code == code)
                )
                if set(rows) == {"cancelled"}:
                    break
            await asyncio.sleep(0.1)


async def test_every_status_of_the_national_list_is_reached(api: ApiClient, stack: Stack) -> None:
    """Statuses 1–10, each told to the applicant as the dossier reached it, and the API's
    `status_code` following the dossier at every wait."""
    reached: set[int] = set()

    async def told(code: str) -> list[int]:
        async with stack.sessionmaker() as session:
            sent = await recent_notifications(session, code, 100)
        return [n.status_code for n in sorted(sent, key=lambda n: n.id) if n.channel == "sms"]

    # 1 → 2 → 4 → 5 → 4 → 6 → 9 → 10, with the fee paid at the desk.
    created = await api.submit("1.009994")
    code, key = created["code"], created["lookup_key"]
    assert (await api.status(code, key))["status_code"] == 1
    assert (await api.act(code, DESK, "accept")).json()["status_code"] == 4
    r = await api.act(
        code, "ktht.specialist", "request_supplement", note="Thiếu bản vẽ", components=["BVTK"]
    )
    assert r.json()["status_code"] == 5
    assert (await _supplement(api, code, key, ["BVTK"])).json()["status_code"] == 4
    for user in ("ktht.specialist", "ktht.head"):
        assert (await api.act(code, user, "approve")).json()["status_code"] == 4
    assert (await api.act(code, "ld.leader", "approve")).json()["status_code"] == 6
    r = await api.act(code, DESK, "confirm_payment")
    assert (r.json()["status_code"], r.json()["stage"]) == (9, "delivery")
    assert (await api.act(code, DESK, "deliver")).json()["status_code"] == 10
    assert await told(code) == [1, 2, 4, 5, 4, 6, 9, 10]
    reached |= set(await told(code))

    # 3: refused at intake.
    code = (await api.submit(HKD))["code"]
    assert (await api.act(code, DESK, "refuse", note="Sai thẩm quyền")).json()["status_code"] == 3
    reached |= set(await told(code))

    # 7 → 8: withdrawn.
    created = await api.submit(HKD)
    code, key = created["code"], created["lookup_key"]
    await api.act(code, DESK, "accept")
    r = await api.http.post(
        f"/api/v1/dossiers/{code}/withdraw", json={}, headers={"X-Lookup-Key": key}
    )
    assert r.json()["status_code"] == 7
    assert (await api.act(code, DESK, "confirm_withdrawal")).json()["status_code"] == 8
    reached |= set(await told(code))

    assert reached == set(range(1, 11))


async def test_a_finished_dossier_has_its_forms_as_pdfs(api: ApiClient) -> None:
    created = await api.submit("1.001193")  # no fee, result online
    code, key = created["code"], created["lookup_key"]
    await api.act(code, DESK, "accept")
    for user in ("tpht.specialist", "ld.leader"):
        await api.act(code, user, "approve")
    await api.wait_for(code, key, "done")
    documents = await _documents(api, code, key)
    assert set(documents) == {"receipt", "result", "control_slip"}
    receipt = await _pdf(api, key, documents["receipt"][0])
    assert code in receipt and "Giấy chứng sinh" in receipt
    # Rendered on its first download, then kept: every download is the same file.
    url = documents["receipt"][0]["url"]
    first, second = [await api.http.get(url, headers={"X-Lookup-Key": key}) for _ in range(2)]
    assert first.content == second.content
    listed = (await _documents(api, code, key))["receipt"][0]["sha256"]
    assert listed == hashlib.sha256(first.content).hexdigest() == first.headers["X-Content-SHA256"]
    # Many first downloads at once: one rendering, the same bytes for all.
    slip_url = documents["control_slip"][0]["url"]
    downloads = await asyncio.gather(
        *(api.http.get(slip_url, headers={"X-Lookup-Key": key}) for _ in range(8))
    )
    assert {r.status_code for r in downloads} == {200}
    assert len({r.content for r in downloads}) == 1
    slip = await _pdf(api, key, documents["control_slip"][0])
    assert "Công chức hộ tịch kiểm tra" in slip and "Tư pháp – Hộ tịch" in slip
    # Another dossier's key opens none of them.
    other = (await api.submit("1.001193"))["lookup_key"]
    r = await api.http.get(documents["receipt"][0]["url"], headers={"X-Lookup-Key": other})
    assert r.status_code == 404

    refused = await api.submit(HKD)
    await api.act(refused["code"], DESK, "refuse", note="Không thuộc thẩm quyền")
    kinds = await _documents(api, refused["code"], refused["lookup_key"])
    assert set(kinds) == {"intake_refusal", "control_slip"}
    text = await _pdf(api, refused["lookup_key"], kinds["intake_refusal"][0])
    assert "Không thuộc thẩm quyền" in text

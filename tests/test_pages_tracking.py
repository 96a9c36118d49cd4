"""The applicant's tracking pages (`/ho-so/{code}`): the QR link's key kept in a cookie of the
dossier and out of every address and page; the timeline and the one call to action; the
documents; the supplement, withdrawal and rating from the page; and, on a phone, the whole
journey through the sandbox gateway to the result.

The first tests check the derivation of the timeline and the call to action (pure functions);
the rest drive a real dossier through the API (officials act as their screens would) and look
at the pages as the applicant's phone gets them."""

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import FilePayload, Page, expect

from api.pages.tracking_dates import appointment, working_time
from api.pages.tracking_view import (
    Facts,
    Payable,
    TimelineItem,
    call_to_action,
    timeline,
)
from api.schemas import ApplicantPublic, DossierPublic, HistoryEntry, StepPublic
from domain.catalog import load_catalog
from tests.browser import assert_accessible, screenshot
from tests.client import DESK, ApiClient, moved
from tests.conftest import Stack

CATALOG = load_catalog(Path(__file__).parent.parent / "catalog.yaml")
HOUSEHOLD = "1.001612"  # full online, 100.000 đ through the gateway; KT → KT head → LD
BIRTH = "1.001193"  # full online, free; TPHT → LD
DEPARTMENTS = {d.code: d.name for d in CATALOG.catalog.departments}
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


# ---- the timeline and the call to action, derived ------------------------------------------


def _at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def _entry(step: str, action: str, hours: float, **extra: Any) -> HistoryEntry:
    return HistoryEntry(
        step=step,
        department=extra.pop("department", "KT"),
        action=action,
        actor=extra.pop("actor", "system"),
        at=_at(hours),
        note=extra.pop("note", None),
        timeliness=extra.pop("timeliness", None),
    )


def _facts(
    history: list[HistoryEntry],
    *,
    status_code: int,
    stage: str,
    step: StepPublic | None = None,
    outcome: str = "pending",
    payment: Payable | None = None,
    missing: list[str] | None = None,
    has_result: bool = False,
    now_hours: float = 10,
) -> Facts:
    status = DossierPublic(
        code="000.00.15.H39-260302-0001",
        procedure_code=HOUSEHOLD,
        status_code=status_code,
        stage=stage,  # type: ignore[arg-type]
        outcome=outcome,
        current_step=step,
        applicant=ApplicantPublic(
            kind="individual",
            full_name="Nguyễn Văn An",
            id_number="079*******89",
            phone="090****567",
            email=None,
            address="Mỹ Yên",
        ),
        received_at=T0,
        due_at=_at(72),
        finished_at=_at(50) if stage == "done" else None,
        overdue=False,
        supplement_requests=0,
        supplement_hours=0,
        late=False,
        history=history,
        source="live",
        as_of=_at(now_hours),
    )
    return Facts(
        status=status,
        procedure=CATALOG.procedures[HOUSEHOLD],
        department_names=DEPARTMENTS,
        desk_department="BPMC",
        delivery_method="online",
        payment=payment,
        missing_components=missing or [],
        has_result=has_result,
        now=_at(now_hours),
    )


def _step(key: str, department: str, role: str, started: float, due: float | None) -> StepPublic:
    return StepPublic(
        key=key,
        name=key,
        department=department,
        role=role,
        started_at=_at(started),
        due_at=_at(due) if due is not None else None,
    )


ACCEPTED = [
    _entry("intake", "submitted", 0, department="BPMC"),
    _entry("intake", "step_started", 0, department="BPMC"),
    _entry("intake", "accept", 1, department="BPMC", timeliness="on_time"),
    _entry("routing", "routed", 1, department="BPMC"),
    _entry("tham_dinh", "step_started", 1),
]


def _states(items: list[TimelineItem]) -> list[tuple[str, str]]:
    return [(i.key, i.status) for i in items]


def test_timeline_marks_each_step_done_current_or_upcoming() -> None:
    history = [
        *ACCEPTED,
        _entry("tham_dinh", "approve", 2, timeliness="early"),
        _entry("truong_phong", "step_started", 2),
    ]
    step = _step("truong_phong", "KT", "head", 2, 6)
    items = timeline(_facts(history, status_code=4, stage="review", step=step, now_hours=7))
    assert _states(items) == [
        ("intake", "done"),
        ("tham_dinh", "done"),
        ("truong_phong", "current"),
        ("phe_duyet", "upcoming"),
        ("payment", "upcoming"),
        ("delivery", "upcoming"),
    ]
    intake, review, current = items[0], items[1], items[2]
    assert intake.badge == ("Đúng hạn", "green") and review.badge == ("Trước hạn", "green")
    assert intake.meta == "Bộ phận Một cửa — UBND xã Mỹ Yên" and current.meta == "Phòng Kinh tế"
    # Past its due time and still running: late, and who holds it.
    assert current.badge == ("Quá hạn", "red")
    assert "Người đang xử lý: Trưởng phòng" in current.detail
    assert any(line.startswith("Hạn xử lý: ") for line in current.detail)
    assert items[3].detail == ["Thời gian xử lý: 4 giờ làm việc"]
    assert items[4].detail == ["Số tiền: 100.000 đ"]
    cta = call_to_action(_facts(history, status_code=4, stage="review", step=step), "X")
    assert (cta.kind, cta.href) == ("nothing", None)


def test_a_returned_step_is_upcoming_again() -> None:
    history = [
        *ACCEPTED,
        _entry("tham_dinh", "approve", 2, timeliness="early"),
        _entry("truong_phong", "step_started", 2),
        _entry("truong_phong", "return", 3, note="Thiếu chữ ký"),
        _entry("tham_dinh", "step_started", 3),
    ]
    step = _step("tham_dinh", "KT", "specialist", 3, 15)
    items = timeline(_facts(history, status_code=4, stage="review", step=step))
    assert _states(items)[1:3] == [("tham_dinh", "current"), ("truong_phong", "upcoming")]


def test_a_rejection_ends_the_steps_and_gives_its_reason() -> None:
    history = [
        *ACCEPTED,
        _entry("tham_dinh", "approve", 2, timeliness="early"),
        _entry("truong_phong", "step_started", 2),
        _entry("truong_phong", "reject", 3, note="Tên trùng hộ khác", timeliness="early"),
        _entry("delivery", "result_issued", 3, department="BPMC"),
        _entry("delivery", "result_published", 3, department="BPMC"),
    ]
    facts = _facts(history, status_code=10, stage="done", outcome="rejected", has_result=True)
    items = timeline(facts)
    assert _states(items)[2:] == [
        ("truong_phong", "refused"),
        ("phe_duyet", "skipped"),
        ("payment", "skipped"),
        ("delivery", "done"),
    ]
    assert items[2].badge == ("Không duyệt", "red")
    cta = call_to_action(facts, "X")
    assert cta.kind == "rejected" and "Lý do: Tên trùng hộ khác" in cta.lines
    assert cta.href == "/ho-so/X/ket-qua"


def test_a_supplement_request_is_the_applicants_to_do() -> None:
    history = [
        *ACCEPTED,
        _entry("tham_dinh", "request_supplement", 2, note="Bản sao bị mờ"),
        _entry("supplement", "step_started", 2, department="BPMC"),
    ]
    step = _step("supplement", "BPMC", "applicant", 2, None)
    missing = ["Bản sao giấy tờ pháp lý của cá nhân"]
    facts = _facts(history, status_code=5, stage="review", step=step, missing=missing)
    items = timeline(facts)
    assert ("tham_dinh", "current") in _states(items)
    assert items[1].badge == ("Chờ bạn", "yellow")
    cta = call_to_action(facts, "X")
    assert cta.kind == "supplement" and cta.href == "/ho-so/X/bo-sung"
    assert cta.items == missing and cta.after == ["Lý do: Bản sao bị mờ"]
    assert cta.lines == ["Bạn cần nộp bổ sung các giấy tờ dưới đây:"]


def test_the_fee_is_paid_through_the_gateway_or_at_the_desk() -> None:
    step = _step("payment", "BPMC", "applicant", 5, None)
    url = "http://gateway.test/sandbox/pay/SBX-1"
    pending = _facts([], status_code=6, stage="payment", step=step)
    asked = Payable(100000, "pending", url)
    online = call_to_action(
        _facts([], status_code=6, stage="payment", step=step, payment=asked), "X"
    )
    assert (online.kind, online.href) == ("pay", url)
    assert "100.000 đ" in online.lines[0]
    paid = Payable(100000, "paid", url)
    assert (
        call_to_action(
            _facts([], status_code=6, stage="payment", step=step, payment=paid), "X"
        ).kind
        == "paid"
    )
    desk = call_to_action(pending, "X")
    assert desk.kind == "pay_desk" and desk.href is None


def test_a_returned_result_is_downloaded() -> None:
    facts = _facts([], status_code=10, stage="done", outcome="approved", has_result=True)
    cta = call_to_action(facts, "X")
    assert (cta.kind, cta.href, cta.done) == ("download", "/ho-so/X/ket-qua", True)
    publishing = _facts([], status_code=9, stage="delivery", outcome="approved", has_result=True)
    assert call_to_action(publishing, "X").kind == "publishing"


def test_the_appointment_as_the_dossier_stands() -> None:
    running = _facts([], status_code=4, stage="review")
    due = appointment(running.status)
    assert due is not None and due.label == "Hẹn trả kết quả" and due.note is None
    assert due.value == "15:00, ngày 05/03/2026"  # T0 + 72 h, in Vietnam's time
    waiting = appointment(_facts([], status_code=5, stage="review").status)
    assert waiting is not None and waiting.note == "Sẽ tính lại khi bạn nộp bổ sung"
    for ended in (3, 8):  # refused, withdrawn: no appointment to keep
        assert appointment(_facts([], status_code=ended, stage="done").status) is None
    returned = _facts([], status_code=10, stage="done", outcome="approved").status
    early = appointment(returned)  # finished at T0 + 50 h, due at T0 + 72 h: a day before
    assert early is not None and early.label == "Ngày trả kết quả"
    assert early.value == "17:00, ngày 04/03/2026 — Trước hạn"
    same_day = returned.model_copy(update={"finished_at": _at(70)})
    assert appointment(same_day).value.endswith("— Đúng hạn")  # type: ignore[union-attr]
    after = returned.model_copy(update={"finished_at": _at(73)})
    assert appointment(after).value.endswith("— Quá hạn")  # type: ignore[union-attr]
    twice_asked = returned.model_copy(update={"late": True})  # Decision 766
    assert appointment(twice_asked).value.endswith("— Quá hạn")  # type: ignore[union-attr]


def test_a_steps_time_reads_the_same_on_both_pages() -> None:
    assert working_time(4) == "4 giờ làm việc"
    assert working_time(0.5) == "0,5 giờ làm việc"
    assert working_time(8) == "1 ngày làm việc"
    assert working_time(12) == "1,5 ngày làm việc"
    history = [*ACCEPTED[:3]]
    items = timeline(_facts(history, status_code=2, stage="routing"))
    assert items[1].detail == ["Thời gian xử lý: 1,5 ngày làm việc"]  # tham_dinh: 12 h


def test_a_refusal_links_its_written_notice() -> None:
    history = [_entry("intake", "refuse", 1, department="BPMC", note="Sai thẩm quyền")]
    facts = _facts(history, status_code=3, stage="done")
    assert call_to_action(facts, "X").href is None  # not issued yet
    issued = replace(facts, refusal_document="/ho-so/X/tai-lieu/1")
    cta = call_to_action(issued, "X")
    assert cta.href == "/ho-so/X/tai-lieu/1" and cta.button == "Tải phiếu từ chối tiếp nhận (PDF)"


@pytest.mark.parametrize("status_code", range(1, 11))
@pytest.mark.parametrize("delivery", ["online", "counter", "post"])
@pytest.mark.parametrize("outcome", ["pending", "approved", "rejected"])
def test_every_status_has_its_words(status_code: int, delivery: str, outcome: str) -> None:
    """No state leaves the page with a text missing from the catalog (shown as `[key]`)."""
    history = [
        *ACCEPTED,
        _entry("tham_dinh", "reject" if outcome == "rejected" else "approve", 2, note="Lý do"),
        _entry("intake", "refuse", 2, note="Không đúng thẩm quyền"),
        _entry("intake", "withdrawal_requested", 3, note="Nộp nhầm"),
    ]
    for has_result, payment in ((False, None), (True, Payable(100000, "pending", "http://g"))):
        facts = replace(
            _facts(history, status_code=status_code, stage="done", outcome=outcome),
            delivery_method=delivery,
            has_result=has_result,
            payment=payment,
        )
        cta = call_to_action(facts, "X")
        shown = [cta.title, *cta.lines, *cta.after, cta.button or ""]
        due = appointment(facts.status)
        shown += [due.label, due.value, due.note or ""] if due else []
        for item in timeline(facts):
            shown += [item.title, item.status_label, *item.detail, *(item.badge or ())]
        assert not [line for line in shown if "[tracking." in line or "[status." in line]


# ---- the pages, on a real dossier ---------------------------------------------------------


@pytest.fixture
async def applicant(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """The applicant's browser, without JavaScript: its own cookies, no redirect followed."""
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
        yield client


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has no form token"
    return found.group(1)


def _main(page: str) -> str:
    """The page's main content, as plain text."""
    main = page.split('<main id="main"', 1)[1].split("</main>", 1)[0]
    return " ".join(re.sub(r"<[^>]+>", " ", main).split())


async def _open(applicant: httpx.AsyncClient, code: str, key: str) -> str:
    """Follow the QR link; the tracking page as the phone then shows it."""
    r = await applicant.get(f"/ho-so/{code}", params={"key": key})
    assert r.status_code == 303 and r.headers["location"] == f"/ho-so/{code}", r.text
    r = await applicant.get(f"/ho-so/{code}")
    assert r.status_code == 200, r.text
    assert key not in r.text
    return r.text


async def _submitted(api: ApiClient, procedure: str = BIRTH) -> tuple[str, str]:
    created = await api.submit(procedure)
    return created["code"], created["lookup_key"]


async def _accepted(api: ApiClient, procedure: str = BIRTH) -> tuple[str, str]:
    code, key = await _submitted(api, procedure)
    moved(await api.act(code, DESK, "accept"), "review")
    return code, key


async def test_qr_link_keeps_the_key_in_a_cookie_of_the_dossier(
    api: ApiClient, applicant: httpx.AsyncClient
) -> None:
    code, key = await _submitted(api)
    r = await applicant.get(f"/ho-so/{code}")
    assert (r.status_code, r.headers["location"]) == (303, "/tra-cuu")  # no key yet
    r = await applicant.get(f"/ho-so/{code}", params={"key": key.lower()})
    assert r.status_code == 303
    assert r.headers["location"] == f"/ho-so/{code}"  # the clean address: no key in it
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("motcua_key="))
    assert "HttpOnly" in cookie and f"Path=/ho-so/{code}" in cookie
    assert "samesite=lax" in cookie.lower()
    page = await _open(applicant, code, key)
    assert "Mới nộp, chờ tiếp nhận" in page
    assert "Chưa có văn bản nào. Giấy tiếp nhận (mẫu 01) sẽ có ở đây khi Bộ phận Một cửa" in page
    # The key is not in the page, nor in any link of it, nor sent to another dossier's pages.
    assert key not in page and key.lower() not in page
    other, _ = await _submitted(api)
    assert (await applicant.get(f"/ho-so/{other}")).headers["location"] == "/tra-cuu"
    # Leaving on a shared phone: the cookie goes.
    r = await applicant.post(f"/ho-so/{code}/thoat", data={"csrf_token": _csrf(page)})
    assert (r.status_code, r.headers["location"]) == (303, "/tra-cuu")
    assert (await applicant.get(f"/ho-so/{code}")).headers["location"] == "/tra-cuu"


async def test_a_wrong_key_looks_like_an_unknown_code(
    api: ApiClient, applicant: httpx.AsyncClient
) -> None:
    code, key = await _submitted(api)
    unknown_code = f"{code[:-4]}9999"
    wrong = await applicant.get(f"/ho-so/{code}", params={"key": "WRONG-KEY"})
    unknown = await applicant.get(f"/ho-so/{unknown_code}", params={"key": key})
    assert wrong.status_code == unknown.status_code == 404
    # The lookup form's own answer to a wrong code or key, the code filled in to try again.
    lookup = await applicant.get("/tra-cuu")
    token = _csrf(lookup.text)
    typed = await applicant.post(
        "/tra-cuu", data={"csrf_token": token, "code": code, "key": "WRONG-KEY"}
    )
    assert typed.status_code == 404
    assert _main(wrong.text) == _main(typed.text)
    assert _main(wrong.text) == _main(unknown.text).replace(unknown_code, code)
    assert "Mã hồ sơ hoặc mã tra cứu không đúng" in wrong.text
    assert "motcua_key=" not in (wrong.headers.get("set-cookie") or "").replace('motcua_key=""', "")


async def test_an_address_of_no_dossier_sets_no_cookie(
    api: ApiClient, applicant: httpx.AsyncClient
) -> None:
    """A path that is no dossier code never becomes a cookie's path: it could carry cookie
    attributes of its own."""
    injected = "x%3B%20Domain%3Devil.example%3B%20Secure"
    r = await applicant.get(f"/ho-so/{injected}", params={"key": "ABCDEFGHIJKLMNOP"})
    assert r.status_code == 404 and "Mã hồ sơ hoặc mã tra cứu không đúng" in r.text
    assert not [c for c in r.headers.get_list("set-cookie") if c.startswith("motcua_key")]
    token = _csrf(r.text)
    r = await applicant.post(f"/ho-so/{injected}/thoat", data={"csrf_token": token})
    assert r.status_code == 404
    assert not [c for c in r.headers.get_list("set-cookie") if c.startswith("motcua_key")]
    assert "evil.example" not in str(r.headers)
    # A real code is still forgotten when its key is wrong, and on leaving.
    code, _ = await _submitted(api)
    r = await applicant.get(f"/ho-so/{code}", params={"key": "ABCDEFGHIJKLMNOP"})
    assert any(c.startswith("motcua_key=") for c in r.headers.get_list("set-cookie"))


async def test_timeline_shows_the_step_and_department_holding_the_dossier(
    api: ApiClient, applicant: httpx.AsyncClient
) -> None:
    code, key = await _accepted(api)
    page = await _open(applicant, code, key)
    current = page.split('aria-current="step"', 1)[1].split("</li>", 1)[0]
    assert "Công chức hộ tịch kiểm tra" in current and "Tư pháp – Hộ tịch" in current
    assert "Người đang xử lý: Chuyên viên" in current and "Hạn xử lý: " in current
    assert "Đang xử lý" in page and "Hiện bạn không cần làm gì" in page
    # Form 01, issued at acceptance, downloads from the page as a PDF.
    href = re.search(r'href="(/ho-so/[^"]+/tai-lieu/[^"]+)">Giấy tiếp nhận hồ sơ', page)
    assert href, _main(page)
    pdf = await applicant.get(href.group(1))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and pdf.headers["cache-control"] == "no-store"
    # No result yet: said on a page, not a raw error.
    none = await applicant.get(f"/ho-so/{code}/ket-qua")
    assert none.status_code == 404 and "Hồ sơ chưa có kết quả để tải về" in none.text
    # What the applicant sent, apart from what the agency issued, each file downloadable.
    sent = page.split("Giấy tờ bạn đã nộp", 1)[1].split("Văn bản cơ quan đã cấp", 1)[0]
    files = re.findall(rf'href="(/ho-so/{re.escape(code)}/tep/[0-9a-f-]+)">([^<]+)</a>', sent)
    assert [name for _, name in files] == ["Tờ khai đăng ký khai sinh", "Giấy chứng sinh"]
    got = await applicant.get(files[0][0])
    assert got.status_code == 200 and got.content.startswith(b"%PDF")
    assert got.headers["cache-control"] == "no-store"
    assert got.headers["content-disposition"].startswith("attachment;")
    # Another dossier's file, an id of no file, and no id at all: the same page, no file.
    other, other_key = await _submitted(api)
    other_files = re.findall(r'/tep/([0-9a-f-]+)"', await _open(applicant, other, other_key))
    for wrong in (other_files[0], "00000000-0000-0000-0000-000000000000", "khong-phai-ma"):
        r = await applicant.get(f"/ho-so/{code}/tep/{wrong}")
        assert r.status_code == 404 and "Không tìm thấy giấy tờ này" in r.text, wrong
    # Without this dossier's key (another phone): to the lookup form, no file.
    async with httpx.AsyncClient(base_url=str(applicant.base_url)) as stranger:
        r = await stranger.get(files[0][0])
        assert (r.status_code, r.headers["location"]) == (303, "/tra-cuu")


async def test_a_refusal_shows_its_reason(api: ApiClient, applicant: httpx.AsyncClient) -> None:
    code, key = await _submitted(api)
    reason = "Thủ tục này thuộc thẩm quyền của UBND xã nơi cư trú của người mẹ"
    moved(await api.act(code, DESK, "refuse", note=reason), "done")
    page = await _open(applicant, code, key)
    assert "Hồ sơ không được tiếp nhận" in page and f"Lý do: {reason}" in page
    assert "Không tiếp nhận" in page  # the intake step's badge
    assert "/rut" not in page  # nothing to withdraw
    assert "Hẹn trả kết quả" not in page  # no appointment to keep
    # The written refusal (form 03), linked from the box once the workflow has issued it.
    cta = r'/ho-so/[^"]+/tai-lieu/[0-9a-f-]+)">Tải phiếu từ chối tiếp nhận \(PDF\)'
    async with asyncio.timeout(20):
        while not (found := re.search(f'<a class="button" href="({cta}', page)):
            await asyncio.sleep(0.2)
            page = (await applicant.get(f"/ho-so/{code}")).text
    notice = await applicant.get(found.group(1))
    assert notice.status_code == 200 and notice.content.startswith(b"%PDF")


async def test_supplement_round_trip_without_javascript(
    api: ApiClient, applicant: httpx.AsyncClient
) -> None:
    code, key = await _accepted(api)
    reason = "Giấy chứng sinh bị mờ, không đọc được số"
    r = await api.act(
        code, "tpht.specialist", "request_supplement", note=reason, components=["GCS"]
    )
    assert r.status_code == 200, r.text
    page = await _open(applicant, code, key)
    assert "Chờ bổ sung hồ sơ" in page and f"Lý do: {reason}" in page
    assert "<li>Giấy chứng sinh</li>" in page
    # What to send, then why; the appointment to be set again.
    box = _main(page).split("Việc bạn cần làm", 1)[1]
    assert box.index("Bạn cần nộp bổ sung các giấy tờ dưới đây:") < box.index("Giấy chứng sinh")
    assert box.index("Giấy chứng sinh") < box.index(f"Lý do: {reason}")
    assert "Sẽ tính lại khi bạn nộp bổ sung" in page
    form = (await applicant.get(f"/ho-so/{code}/bo-sung")).text
    assert 'name="file-GCS"' in form and reason in form and key not in form
    # Nothing chosen: said at the field.
    r = await applicant.post(
        f"/ho-so/{code}/bo-sung",
        data={"csrf_token": _csrf(form), "round": "1"},
        files={"file-GCS": ("", b"", "application/octet-stream")},
    )
    assert r.status_code == 422 and 'href="#file-GCS"' in r.text
    assert "Chọn tệp cho “Giấy chứng sinh”" in r.text
    # A file of a type not accepted.
    r = await applicant.post(
        f"/ho-so/{code}/bo-sung",
        data={"csrf_token": _csrf(form), "round": "1"},
        files={"file-GCS": ("a.exe", b"MZ\x90\x00", "application/octet-stream")},
    )
    assert r.status_code == 422 and "không đúng định dạng" in r.text
    # A note the API would refuse (a NUL character): said at the note, not a server error.
    files = {"file-GCS": ("gcs.pdf", b"%PDF-1.4 clearer\n", "application/pdf")}
    bad = {"csrf_token": _csrf(form), "round": "1", "note": "Bản chụp\x00rõ hơn"}
    r = await applicant.post(f"/ho-so/{code}/bo-sung", data=bad, files=files)
    assert r.status_code == 422 and 'href="#note"' in r.text, r.text
    assert "Nội dung có ký tự không hợp lệ" in r.text and "\x00" not in r.text
    assert "Đã tải lên: gcs.pdf" in r.text  # the file is kept
    sent = {"csrf_token": _csrf(form), "round": "1", "note": "Bản chụp rõ hơn"}
    r = await applicant.post(f"/ho-so/{code}/bo-sung", data=sent, files=files)
    assert (r.status_code, r.headers["location"]) == (303, f"/ho-so/{code}?da=bo-sung"), r.text
    state = await api.status(code, key)
    assert state["status_code"] == 4 and state["current_step"]["key"] == "hotich"
    assert [e["action"] for e in state["history"]].count("supplemented") == 1
    page = (await applicant.get(f"/ho-so/{code}?da=bo-sung")).text
    assert "Đã gửi hồ sơ bổ sung" in page and "Đang xử lý" in page
    assert "Nộp bổ sung lần 1" in page  # the file sent, with the others
    # The same form sent again (a double press): taken once, answered the same.
    r = await applicant.post(f"/ho-so/{code}/bo-sung", data=sent, files=files)
    assert r.headers["location"] == f"/ho-so/{code}?da=bo-sung"
    state = await api.status(code, key)
    assert [e["action"] for e in state["history"]].count("supplemented") == 1


async def test_withdrawal_after_confirmation(api: ApiClient, applicant: httpx.AsyncClient) -> None:
    code, key = await _accepted(api)
    page = await _open(applicant, code, key)
    assert f'href="/ho-so/{code}/rut"' in page
    confirm = (await applicant.get(f"/ho-so/{code}/rut")).text
    assert "Xác nhận rút hồ sơ" in confirm and key not in confirm
    token = _csrf(confirm)
    # A reason the API would refuse (a NUL character, which the workflow could never store):
    # said at the field; nothing is asked, so the dossier does not stall.
    r = await applicant.post(
        f"/ho-so/{code}/rut", data={"csrf_token": token, "reason": "Nộp\x00nhầm"}
    )
    assert r.status_code == 422 and 'href="#withdraw-reason"' in r.text
    assert "Nội dung có ký tự không hợp lệ" in r.text
    assert (await api.status(code, key))["status_code"] == 4  # still in process
    r = await applicant.post(f"/ho-so/{code}/rut", data={"csrf_token": token, "reason": "Nộp nhầm"})
    assert (r.status_code, r.headers["location"]) == (303, f"/ho-so/{code}?da=rut")
    page = (await applicant.get(r.headers["location"])).text
    assert "Đã gửi yêu cầu rút hồ sơ" in page and "Đang chờ xác nhận rút hồ sơ" in page
    # Pressed twice: applied once. The confirmation page now says it was asked.
    r = await applicant.post(f"/ho-so/{code}/rut", data={"csrf_token": token})
    assert r.headers["location"] == f"/ho-so/{code}?da=rut"
    assert (await api.status(code, key))["status_code"] == 7
    again = (await applicant.get(f"/ho-so/{code}/rut")).text
    assert "Bạn đã gửi yêu cầu rút hồ sơ này" in again and 'name="reason"' not in again
    moved(await api.act(code, DESK, "confirm_withdrawal"), "done")
    page = (await applicant.get(f"/ho-so/{code}")).text
    assert "Hồ sơ đã dừng xử lý" in page and "Đã dừng xử lý" in page
    # A form post without the token is refused.
    r = await applicant.post(f"/ho-so/{code}/rut", data={"reason": "x"})
    assert r.status_code == 403


async def _returned(api: ApiClient) -> tuple[str, str]:
    """A birth registration through to its result, returned online."""
    code, key = await _accepted(api)
    moved(await api.act(code, "tpht.specialist", "approve"), "review", "phe_duyet")
    await api.act(code, "ld.leader", "approve")
    await api.wait_for(code, key, "done")
    return code, key


async def test_rating_once_the_result_is_returned(
    api: ApiClient, applicant: httpx.AsyncClient
) -> None:
    early, early_key = await _accepted(api)
    page = await _open(applicant, early, early_key)
    assert "danh-gia" not in page
    r = await applicant.post(
        f"/ho-so/{early}/danh-gia", data={"csrf_token": _csrf(page), "satisfaction": "satisfied"}
    )
    assert r.status_code == 409 and "sau khi đã nhận kết quả" in r.text

    code, key = await _returned(api)
    page = await _open(applicant, code, key)
    assert "Đã trả kết quả" in page and f'href="/ho-so/{code}/ket-qua"' in page
    returned = re.search(r"<dt>Ngày trả kết quả</dt><dd>([^<]+)</dd>", page)
    assert returned, _main(page)
    assert re.fullmatch(r"\d{2}:\d{2}, ngày \d{2}/\d{2}/\d{4} — (Trước hạn|Đúng hạn)", returned[1])
    assert "Hẹn trả kết quả" not in page
    result = await applicant.get(f"/ho-so/{code}/ket-qua")
    assert result.status_code == 200 and result.content.startswith(b"%PDF")
    token = _csrf(page)
    r = await applicant.post(f"/ho-so/{code}/danh-gia", data={"csrf_token": token})
    assert r.status_code == 422 and 'href="#rate-satisfaction"' in r.text
    sent = {"csrf_token": token, "satisfaction": "satisfied", "comment": "Nhanh, chu đáo"}
    r = await applicant.post(f"/ho-so/{code}/danh-gia", data=sent)
    assert (r.status_code, r.headers["location"]) == (303, f"/ho-so/{code}?da=danh-gia")
    page = (await applicant.get(r.headers["location"])).text
    assert "Bạn đã đánh giá: Hài lòng" in page and 'name="satisfaction"' not in page
    # Too late to withdraw: the page offers it no more, and a stale form is told why.
    assert f"/ho-so/{code}/rut" not in page
    r = await applicant.post(f"/ho-so/{code}/rut", data={"csrf_token": token})
    assert r.status_code == 409 and "không thể rút" in r.text


# ---- on a phone -------------------------------------------------------------------------------


async def _phone_opens(phone: Page, code: str, key: str) -> None:
    await phone.goto(f"/ho-so/{code}?key={key}")
    assert phone.url.endswith(f"/ho-so/{code}"), phone.url  # the history keeps no key
    assert key not in await phone.content()


async def test_phone_tracking_and_supplement(phone: Page, api: ApiClient) -> None:
    code, key = await _accepted(api, HOUSEHOLD)
    await _phone_opens(phone, code, key)
    current = phone.locator("[aria-current=step]")
    await expect(current).to_contain_text("Thẩm định hồ sơ")
    await expect(current).to_contain_text("Phòng Kinh tế")
    await assert_accessible(phone)
    await screenshot(phone, "tracking")

    reason = "Bản sao căn cước bị mờ; giấy đề nghị thiếu chữ ký"
    r = await api.act(
        code, "kt.specialist", "request_supplement", note=reason, components=["CCCD", "GDN"]
    )
    assert r.status_code == 200, r.text
    await phone.reload()
    await expect(phone.get_by_text(f"Lý do: {reason}").first).to_be_visible()
    await phone.get_by_role("link", name="Bổ sung hồ sơ").click()
    await expect(phone.get_by_role("heading", level=1)).to_contain_text("Bổ sung hồ sơ")
    await assert_accessible(phone)
    await screenshot(phone, "supplement")
    # One file chosen of two: the error names the other, and the first is kept.
    await phone.get_by_label("Giấy đề nghị đăng ký hộ kinh doanh").set_input_files(
        files=FilePayload(name="gdn.pdf", mimeType="application/pdf", buffer=b"%PDF-1.4 gdn\n")
    )
    await phone.get_by_role("button", name="Gửi hồ sơ bổ sung").click()
    await expect(phone.locator(".error-summary")).to_contain_text("Bản sao giấy tờ pháp lý")
    await expect(phone.get_by_text("Đã tải lên: gdn.pdf")).to_be_visible()
    await assert_accessible(phone)
    await phone.get_by_label("Bản sao giấy tờ pháp lý của cá nhân").set_input_files(
        files=FilePayload(name="cccd.png", mimeType="image/png", buffer=b"\x89PNG\r\n\x1a\nxx")
    )
    await phone.get_by_role("button", name="Gửi hồ sơ bổ sung").click()
    await expect(phone.get_by_text("Đã gửi hồ sơ bổ sung")).to_be_visible()
    await expect(phone.locator("[aria-current=step]")).to_contain_text("Thẩm định hồ sơ")
    state = await api.status(code, key)
    assert state["status_code"] == 4
    await assert_accessible(phone)


async def test_phone_withdrawal(phone: Page, api: ApiClient) -> None:
    code, key = await _accepted(api)
    await _phone_opens(phone, code, key)
    await phone.get_by_role("link", name="Rút hồ sơ").click()
    await expect(phone.get_by_role("heading", level=1)).to_have_text("Bạn muốn rút hồ sơ này?")
    await assert_accessible(phone)
    await screenshot(phone, "withdraw")
    await phone.get_by_label("Lý do rút hồ sơ").fill("Gia đình muốn đăng ký ở nơi khác")
    await phone.get_by_role("button", name="Xác nhận rút hồ sơ").click()
    await expect(phone.get_by_text("Đã gửi yêu cầu rút hồ sơ")).to_be_visible()
    assert "?da=rut" in phone.url
    await assert_accessible(phone)
    assert (await api.status(code, key))["status_code"] == 7


async def test_phone_wrong_key(phone: Page, api: ApiClient) -> None:
    code, _ = await _submitted(api)
    response = await phone.goto(f"/ho-so/{code}?key=SAI-MA-TRA-CUU")
    assert response is not None and response.status == 404
    await expect(phone.locator(".error-summary")).to_contain_text("mã tra cứu không đúng")
    await expect(phone.get_by_label("Mã hồ sơ")).to_have_value(code)
    await assert_accessible(phone)


async def test_phone_pays_through_the_gateway_downloads_and_rates(
    phone: Page, api: ApiClient
) -> None:
    """The whole journey after submission: officials approve (their screens are the API's),
    the phone follows the call to action to the gateway, pays, comes back, downloads the
    result and rates the service."""
    code, key = await _accepted(api, HOUSEHOLD)
    for official in ("kt.specialist", "kt.head"):
        assert (await api.act(code, official, "approve")).status_code == 200
    moved(await api.act(code, "ld.leader", "approve"), "payment")
    await _phone_opens(phone, code, key)
    await expect(phone.get_by_role("heading", name="Nộp phí, lệ phí trực tuyến")).to_be_visible()
    await assert_accessible(phone)
    await phone.get_by_role("link", name="Thanh toán trực tuyến").click()
    await expect(phone.get_by_text("100.000 đ")).to_be_visible()
    await assert_accessible(phone)
    await phone.get_by_role("button", name="Thanh toán").click()
    await expect(phone.get_by_text("Giao dịch đã hoàn tất")).to_be_visible()
    await phone.get_by_role("link", name=re.compile("Quay lại trang hồ sơ")).click()
    assert phone.url.endswith(f"/ho-so/{code}")
    download_link = phone.get_by_role("link", name="Tải kết quả (PDF)")
    for _ in range(40):  # the result is issued and published in a moment
        if await download_link.count():
            break
        await asyncio.sleep(0.25)
        await phone.reload()
    await expect(phone.get_by_text("Đã trả kết quả").first).to_be_visible()
    await assert_accessible(phone)
    async with phone.expect_download() as waiting:
        await download_link.click()
    download = await waiting.value
    assert download.suggested_filename == f"{code}-result.pdf"
    path = await download.path()
    assert path is not None and (await asyncio.to_thread(path.read_bytes)).startswith(b"%PDF")

    await phone.get_by_label("Hài lòng", exact=True).check()
    await phone.get_by_label("Góp ý của bạn").fill("Không phải đi lại lần nào")
    await phone.get_by_role("button", name="Gửi đánh giá").click()
    await expect(phone.get_by_text("Bạn đã đánh giá: Hài lòng")).to_be_visible()
    await expect(phone.get_by_role("button", name="Gửi đánh giá")).to_have_count(0)
    await assert_accessible(phone)

"""The back office (`/can-bo`) over HTTP, as a browser posts its forms: logging in (the API's
accounts, throttling and audit) and out, the inbox of a department and role, the dossier page
with exactly the actions its official may take now, and those actions applied as the API
applies them: audited alike, told on their field when wrong, applied once when sent twice."""

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, time, timedelta
from html import unescape
from typing import Any

import httpx
from sqlalchemy import func, select, update

from api.main import create_app
from api.pages.backoffice_facts import number_text, size_text
from api.pages.backoffice_forms import typed_moment
from api.security import TokenClaims, hash_password, issue_token
from domain.calendar import VN_TZ
from domain.catalog import load_catalog
from motcua.settings import Settings
from store.db import Sessionmaker
from store.models import AuditRow, Dossier
from store.officials import full_names, upsert_official
from tests.client import DESK, ApiClient, moved
from tests.conftest import Stack, insert_dossier
from tests.dossier_pages import COPY, confirm, fill_and_check, until_linked

# ---- helpers ---------------------------------------------------------------------------------


def _csrf(client: httpx.AsyncClient) -> str:
    return str(client.cookies["motcua_csrf"])


async def _log_in(
    client: httpx.AsyncClient, username: str, password: str, next_path: str = ""
) -> httpx.Response:
    """The login form, as a browser sends it: the page first (its form token), then the post."""
    assert (await client.get("/can-bo/dang-nhap")).status_code == 200
    data = {"csrf_token": _csrf(client), "username": username, "password": password}
    return await client.post("/can-bo/dang-nhap", data={**data, "next": next_path})


@asynccontextmanager
async def signed_in(stack: Stack, username: str, password: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
        r = await _log_in(client, username, password)
        assert r.status_code == 303, r.text
        yield client


def parsed_hidden(html: str) -> dict[str, str]:
    """The hidden inputs of a page (its one form), as a browser posts them back."""
    return {
        unescape(name): unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html)
    }


def _form_keys(html: str) -> dict[str, str]:
    """The hidden keys of the page's action forms (the same in each)."""
    found = {
        name: re.search(rf'name="{name}" value="([^"]*)"', html)
        for name in ("step_key", "request_key", "csrf_token")
    }
    return {name: match.group(1) for name, match in found.items() if match}


async def _page_act(
    client: httpx.AsyncClient, code: str, keys: dict[str, str], action: str, **fields: Any
) -> httpx.Response:
    return await client.post(
        f"/can-bo/ho-so/{code}/xu-ly", data={**keys, "action": action, **fields}
    )


async def _until_in(client: httpx.AsyncClient, path: str, wanted: str) -> str:
    """The page at `path` once it shows `wanted` (10 s at most): what another workflow records
    as it starts (a consultation) may land a moment after the action that started it."""
    async with asyncio.timeout(10):
        while wanted not in (html := (await client.get(path)).text):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    return html


async def _trail(sessionmaker: Sessionmaker, code: str) -> list[tuple[str, str, int | None]]:
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(AuditRow).where(AuditRow.dossier_code == code).order_by(AuditRow.id)
        )
        return [(r.actor, r.action, r.detail.get("refused")) for r in rows]


# ---- logging in and out -------------------------------------------------------------------


async def test_logging_in_sets_a_guarded_session_cookie(
    stack: Stack, demo_password: str, sessionmaker: Sessionmaker
) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
        # Without a session, the back office sends the official to log in, and back after.
        r = await client.get("/can-bo")
        assert r.status_code == 303
        assert r.headers["location"] == "/can-bo/dang-nhap?next=/can-bo"

        r = await _log_in(client, "kt.specialist", demo_password, "/can-bo?loc=qua-han")
        assert r.status_code == 303 and r.headers["location"] == "/can-bo?loc=qua-han"
        [cookie] = [c for c in r.headers.get_list("set-cookie") if c.startswith("motcua_session=")]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/can-bo" in cookie
        assert "Secure" not in cookie  # served over plain HTTP here; Secure behind HTTPS

        inbox = await client.get("/can-bo")
        assert inbox.status_code == 200
        async with sessionmaker() as session:
            name = (await full_names(session, ["kt.specialist"]))["kt.specialist"]
        assert "Hồ sơ cần xử lý" in inbox.text and name in inbox.text  # who is logged in
        assert "no-store" in inbox.headers["cache-control"]

        # Logging out ends the session.
        r = await client.post("/can-bo/dang-xuat", data={"csrf_token": _csrf(client)})
        assert r.status_code == 303
        assert (
            "motcua_session=" in r.headers["set-cookie"] and "Max-Age=0" in r.headers["set-cookie"]
        )
        assert (await client.get("/can-bo")).status_code == 303

    async with sessionmaker() as session:
        logins = await session.scalars(
            select(AuditRow.action).where(AuditRow.actor == "kt.specialist")
        )
        assert "login" in list(logins)


async def test_another_site_is_never_the_way_back(stack: Stack, demo_password: str) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
        for elsewhere in ("https://evil.example/", "//evil.example/can-bo", "/can-bo\\x"):
            r = await _log_in(client, "kt.specialist", demo_password, elsewhere)
            assert r.headers["location"] == "/can-bo"
            client.cookies.delete("motcua_session", path="/can-bo")


async def test_a_wrong_password_is_told_and_audited(
    stack: Stack, sessionmaker: Sessionmaker
) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
        r = await _log_in(client, "kt.head2", "not-the-password")
        assert r.status_code == 401
        assert "Tên đăng nhập hoặc mật khẩu không đúng" in r.text
        assert 'href="#username"' in r.text and 'value="kt.head2"' in r.text
        assert "motcua_session" not in r.headers.get("set-cookie", "")
        # Empty fields are told before anything is tried.
        r = await _log_in(client, "", "")
        assert r.status_code == 422
        assert "Nhập tên đăng nhập" in r.text and "Nhập mật khẩu" in r.text
        # A form without its token is refused.
        r = await client.post("/can-bo/dang-nhap", data={"username": "a", "password": "b"})
        assert r.status_code == 403
    async with sessionmaker() as session:
        failed = await session.scalar(
            select(AuditRow).where(AuditRow.actor == "kt.head2", AuditRow.action == "login_failed")
        )
    assert failed is not None


async def test_failed_logins_are_throttled_as_in_the_api(
    settings: Settings, stack: Stack, demo_password: str
) -> None:
    strict = settings.model_copy(update={"login_failures_allowed": 3, "login_delay_seconds": 60})
    app = create_app(strict)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("10.0.9.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            for _ in range(3):
                r = await _log_in(client, "ld.leader2", "wrong")
                assert r.status_code == 401
            r = await _log_in(client, "ld.leader2", demo_password)
            assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
            assert "Bạn đã nhập sai quá nhiều lần" in r.text


async def test_an_expired_session_leads_back_to_the_login(stack: Stack, settings: Settings) -> None:
    claims = TokenClaims("kt.specialist", "KT", "specialist", 1)
    expired = issue_token(claims, settings.jwt_secret.get_secret_value(), timedelta(seconds=-1))
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
        client.cookies.set("motcua_session", expired, path="/can-bo")
        r = await client.get("/can-bo/ho-so/000.00.15.H39-260101-0001")
        assert r.status_code == 303
        assert r.headers["location"].startswith("/can-bo/dang-nhap?next=/can-bo/ho-so/")
        r = await client.get(r.headers["location"])
        assert "Phiên làm việc đã hết hạn" in r.text


# ---- the inbox ------------------------------------------------------------------------------


async def test_the_inbox_puts_the_oldest_due_first_with_badges_and_filters(
    stack: Stack, settings: Settings, sessionmaker: Sessionmaker, demo_password: str
) -> None:
    """Steps of one department and role (KTHT heads), due at chosen times."""
    permit = load_catalog(settings.catalog_path).snapshot("1.009994")
    now = datetime.now(UTC)
    end_of_today = datetime.combine(now.astimezone(VN_TZ).date(), time(23, 59, 59), VN_TZ)
    steps = {
        "on_time": (now - timedelta(hours=1), now + timedelta(days=60)),
        "overdue": (now - timedelta(days=3), now - timedelta(days=1)),
        "due_soon": (now - timedelta(days=40), now + timedelta(days=2)),
        "today": (now - timedelta(hours=1), end_of_today),
        "no_due": (now - timedelta(hours=1), None),
    }
    codes = {}
    for name, (started, due) in steps.items():
        code = await insert_dossier(
            sessionmaker, permit, now - timedelta(days=40), now + timedelta(days=90)
        )
        async with sessionmaker.begin() as session:
            await session.execute(
                update(Dossier)
                .where(Dossier.code == code)
                .values(
                    stage="review",
                    status_code=4,
                    step_key="truong_phong",
                    step_name="Trưởng phòng xem xét",
                    department="KTHT",
                    role="head",
                    step_started_at=started,
                    step_due_at=due,
                )
            )
        codes[name] = code

    async with signed_in(stack, "ktht.head", demo_password) as client:
        inbox = (await client.get("/can-bo")).text
        order = sorted((c for n, c in codes.items() if n != "no_due"), key=inbox.index)
        assert order == [codes["overdue"], codes["today"], codes["due_soon"], codes["on_time"]]
        # A step without a due time says so, with no badge beside it.
        card = re.search(rf"{re.escape(codes['no_due'])}</a></h2>(.*?)</li>", inbox, re.S)
        assert card is not None and "Không có hạn" in card.group(1)
        assert "Trong hạn" not in card.group(1) and "Cần: xem xét, duyệt" in card.group(1)
        for badge in ("Quá hạn", "Sắp đến hạn", "Trong hạn"):
            assert badge in inbox
        # The desk's department is not the KTHT's: the applicant's ID number is masked.
        assert "091****678" in inbox and "0912345678" not in inbox
        overdue = (await client.get("/can-bo?loc=qua-han")).text
        assert codes["overdue"] in overdue
        assert all(codes[n] not in overdue for n in ("today", "due_soon", "on_time"))
        today = (await client.get("/can-bo?loc=hom-nay")).text
        assert codes["today"] in today
        assert all(codes[n] not in today for n in ("overdue", "due_soon", "on_time"))
        assert 'aria-current="page"' in today


# ---- actions through the page, as through the API ------------------------------------------


async def test_page_actions_and_reads_are_audited_as_the_apis(
    api: ApiClient, stack: Stack, sessionmaker: Sessionmaker, demo_password: str
) -> None:
    created = await api.submit("1.001612")
    code = created["code"]
    async with signed_in(stack, DESK, demo_password) as desk:
        page = await desk.get(f"/can-bo/ho-so/{code}")
        assert page.status_code == 200
        r = await _page_act(desk, code, _form_keys(page.text), "accept")
        assert r.status_code == 303
        assert r.headers["location"] == f"/can-bo?xong=accept&ma={code}"
        done = await desk.get(r.headers["location"])
        assert f"Đã tiếp nhận hồ sơ {code}." in done.text
        page = await desk.get(f"/can-bo/ho-so/{code}")
        [receipt] = re.findall(rf'href="(/can-bo/ho-so/{code}/tai-lieu/[^"]+)"', page.text)
        pdf = await desk.get(receipt)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    async with signed_in(stack, "ld.leader", demo_password) as leader:
        refused = await leader.get(f"/can-bo/ho-so/{code}")
        assert refused.status_code == 403
        assert "không thuộc phòng ban" in refused.text
        assert (await leader.get(receipt)).status_code == 403

    assert await _trail(sessionmaker, code) == [
        ("applicant", "submit", None),
        (DESK, "view_dossier", None),
        (DESK, "accept", None),
        (DESK, "view_dossier", None),
        (DESK, "read_document", None),
        ("ld.leader", "view_dossier", 403),
        ("ld.leader", "read_document", 403),
    ]


async def test_a_form_sent_twice_is_applied_once(
    api: ApiClient, stack: Stack, demo_password: str
) -> None:
    created = await api.submit("1.001193")
    code, key = created["code"], created["lookup_key"]
    async with signed_in(stack, DESK, demo_password) as desk:
        keys = _form_keys((await desk.get(f"/can-bo/ho-so/{code}")).text)
        first = await _page_act(desk, code, keys, "accept")
        again = await _page_act(desk, code, keys, "accept")
    assert first.status_code == again.status_code == 303
    state = await api.status(code, key)
    assert [e["action"] for e in state["history"]].count("accept") == 1
    assert state["current_step"]["key"] == "hotich"


async def test_a_refusal_needs_its_reason_and_bad_input_is_told_on_its_field(
    api: ApiClient, stack: Stack, demo_password: str
) -> None:
    created = await api.submit("1.001193")
    code, key = created["code"], created["lookup_key"]
    async with signed_in(stack, DESK, demo_password) as desk:
        keys = _form_keys((await desk.get(f"/can-bo/ho-so/{code}")).text)
        r = await _page_act(desk, code, keys, "refuse", note="   ")
        assert r.status_code == 422  # asked before anything else (the workflow's own rule too)
        assert 'href="#refuse-note"' in r.text and "Nhập lý do từ chối" in r.text
        assert "Bạn chắc chắn" not in r.text
        r = await _page_act(desk, code, keys, "request_supplement", note="Thiếu giấy chứng sinh")
        assert r.status_code == 422 and 'href="#components"' in r.text
        assert "Thiếu giấy chứng sinh" in r.text  # what was typed stays
        r = await _page_act(desk, code, keys, "extend", new_due_at="mai", note="Chậm")
        assert r.status_code == 422 and 'href="#new-due-at"' in r.text
        assert "ngày/tháng/năm, giờ:phút" in r.text
        # The apology's form, folded away while the appointment is far, opens on its error.
        assert re.search(r'<details class="action-form" open>\s*<summary>Xin lỗi', r.text)
        r = await _page_act(desk, code, keys, "fly")
        assert r.status_code == 422 and "Thao tác không hợp lệ" in r.text
    state = await api.status(code, key)
    assert state["status_code"] == 1 and len(state["history"]) == 2  # nothing happened


async def test_a_refusal_is_confirmed_on_a_page_of_its_own(
    api: ApiClient, stack: Stack, demo_password: str
) -> None:
    created = await api.submit("1.001193")
    code, key = created["code"], created["lookup_key"]
    reason = "Hồ sơ không thuộc thẩm quyền của xã <b>"
    async with signed_in(stack, DESK, demo_password) as desk:
        page = (await desk.get(f"/can-bo/ho-so/{code}")).text
        # The refusal is a form of its own, its reason required and meant for the applicant.
        assert "Lý do từ chối (người nộp hồ sơ sẽ đọc được)" in page
        assert not re.search(r"Lý do từ chối[^<]*<span class=\"field__optional\"", page)
        keys = _form_keys(page)
        asked = await _page_act(desk, code, keys, "refuse", note=reason)
        assert asked.status_code == 200
        assert f"Bạn chắc chắn từ chối tiếp nhận hồ sơ {code}?" in asked.text
        assert "Hồ sơ không thuộc thẩm quyền của xã &lt;b&gt;" in asked.text  # escaped
        assert (await api.status(code, key))["status_code"] == 1  # not yet
        # "Quay lại": the dossier again, the reason as typed.
        back = await _page_act(desk, code, keys, "refuse", note=reason, confirm="no")
        assert back.status_code == 200 and "Bạn chắc chắn" not in back.text
        assert re.search(r'<textarea[^>]*id="refuse-note"[^>]*>Hồ sơ không thuộc', back.text)
        assert (await api.status(code, key))["status_code"] == 1
        # Confirmed twice (a double tap): applied once.
        confirmed = dict(parsed_hidden(asked.text), confirm="yes")
        first = await desk.post(f"/can-bo/ho-so/{code}/xu-ly", data=confirmed)
        again = await desk.post(f"/can-bo/ho-so/{code}/xu-ly", data=confirmed)
        assert first.status_code == again.status_code == 303
        assert first.headers["location"] == f"/can-bo?xong=refuse&ma={code}"
    state = await api.status(code, key)
    assert state["status_code"] == 3
    assert [e["action"] for e in state["history"]].count("refuse") == 1
    assert state["history"][-1]["note"] == reason


async def test_a_stale_confirmation_is_refused(
    api: ApiClient, stack: Stack, demo_password: str
) -> None:
    created = await api.submit("1.001193")
    code, key = created["code"], created["lookup_key"]
    async with signed_in(stack, DESK, demo_password) as desk:
        keys = _form_keys((await desk.get(f"/can-bo/ho-so/{code}")).text)
        asked = await _page_act(desk, code, keys, "refuse", note="Sai thẩm quyền")
        assert asked.status_code == 200
        # Meanwhile a colleague accepts the dossier.
        moved(await api.act(code, "bpmc.desk_officer2", "accept"), "review", "hotich")
        confirmed = dict(parsed_hidden(asked.text), confirm="yes")
        r = await desk.post(f"/can-bo/ho-so/{code}/xu-ly", data=confirmed)
        assert r.status_code == 409 and "Hồ sơ đã thay đổi" in r.text
    assert (await api.status(code, key))["status_code"] != 3


async def test_handing_over_consulting_and_answering_from_the_pages(
    api: ApiClient, stack: Stack, demo_password: str
) -> None:
    created = await api.submit("1.012778")
    code, key = created["code"], created["lookup_key"]
    moved(await api.act(code, "vpdk_mc.desk_officer", "accept"), "review", "dang_ky")
    async with signed_in(stack, "vpdk.head", demo_password) as head:
        page = (await head.get(f"/can-bo/ho-so/{code}")).text
        assert "Chuyển cho cán bộ khác" in page and ">Duyệt<" not in page
        r = await _page_act(head, code, _form_keys(page), "reassign", assignee="vpdk.specialist2")
        assert r.status_code == 303
    async with signed_in(stack, "vpdk.specialist", demo_password) as other:
        assert code not in (await other.get("/can-bo")).text  # handed to the colleague
    async with signed_in(stack, "vpdk.specialist2", demo_password) as specialist:
        page = (await specialist.get(f"/can-bo/ho-so/{code}")).text
        assert 'value="TNMT"' in page and 'value="THUE"' in page
        r = await _page_act(specialist, code, _form_keys(page), "consult", note="?")
        assert r.status_code == 422 and 'href="#departments"' in r.text  # none is not all
        r = await _page_act(
            specialist, code, _form_keys(page), "consult",
            departments=["TNMT"], note="Nguồn gốc đất?",
        )  # fmt: skip
        assert r.status_code == 303
        async with signed_in(stack, "tnmt.specialist", demo_password) as tnmt:
            inbox = await _until_in(tnmt, "/can-bo", "Nguồn gốc đất?")
        page = (await specialist.get(f"/can-bo/ho-so/{code}")).text
        assert "đang chờ ý kiến" in page and ">Duyệt<" not in page
    async with signed_in(stack, "tnmt.specialist", demo_password) as tnmt:
        # Other tests' consultations may wait in the same inbox: this dossier's form.
        [answer] = re.findall(rf'action="(/can-bo/y-kien/{re.escape(code)}-[^"]+)"', inbox)
        r = await tnmt.post(answer, data={"csrf_token": _csrf(tnmt), "opinion": "  "})
        assert r.status_code == 422 and "Nhập ý kiến" in r.text
        r = await tnmt.post(answer, data={"csrf_token": _csrf(tnmt), "opinion": "Đất ổn định"})
        assert r.status_code == 303
        assert "Đã gửi ý kiến" in (await tnmt.get(r.headers["location"])).text
    await api.wait_for_history(code, key, "consultation_answered")


async def test_the_desk_apologises_with_a_new_appointment(
    api: ApiClient, stack: Stack, demo_password: str
) -> None:
    created = await api.submit("1.001193")
    code, key = created["code"], created["lookup_key"]
    async with signed_in(stack, DESK, demo_password) as desk:
        page = (await desk.get(f"/can-bo/ho-so/{code}")).text
        suggested = re.search(r'name="new_due_at" type="datetime-local" value="([^"]+)"', page)
        assert suggested is not None
        fields = {"new_due_at": suggested.group(1), "note": "Cần xác minh thêm"}
        r = await _page_act(desk, code, _form_keys(page), "extend", **fields)
        assert r.status_code == 303 and r.headers["location"] == f"/can-bo/ho-so/{code}?xong=extend"
        assert "Đã hẹn lại ngày trả kết quả" in (await desk.get(r.headers["location"])).text
    state = await api.status(code, key)
    assert state["due_at"].startswith(suggested.group(1))


# ---- what the dossier page states ---------------------------------------------------------


async def test_the_declaration_and_the_submitted_files_are_on_the_page(
    api: ApiClient, stack: Stack, sessionmaker: Sessionmaker, demo_password: str
) -> None:
    business = await api.submit("1.001612")
    birth = await api.submit("1.001193")
    code = business["code"]
    async with signed_in(stack, DESK, demo_password) as desk:
        page = (await desk.get(f"/can-bo/ho-so/{code}")).text
        answers = _summary(page, "declaration")
        assert answers["Tên hộ kinh doanh"] == "Hộ kinh doanh Tạp hóa Cô Ba"
        assert answers["Vốn kinh doanh (đồng)"] == "50.000.000"  # dots group thousands
        assert answers["Số lượng lao động (người)"] == "2"
        assert answers["Điện thoại của hộ kinh doanh"] == "Không điền"  # optional, left empty
        links = dict(
            (unescape(label), href)
            for href, label in re.findall(
                rf'<a href="(/can-bo/ho-so/{code}/tep/[^"]+)">([^<]+)</a>', page
            )
        )
        assert set(links) == {
            "Mở Giấy đề nghị đăng ký hộ kinh doanh (PDF, 1 KB)",
            "Mở Bản sao giấy tờ pháp lý của cá nhân (PDF, 1 KB)",
        }
        file = await desk.get(links["Mở Giấy đề nghị đăng ký hộ kinh doanh (PDF, 1 KB)"])
        assert file.status_code == 200 and file.content == b"%PDF-1.4 test\n"
        assert file.headers["content-disposition"].startswith("attachment;")
        assert file.headers["content-type"] == "application/pdf"
        assert "no-store" in file.headers["cache-control"]
        # A file of another dossier is not this dossier's.
        other = re.search(
            r"/tep/([0-9a-f-]{36})", (await desk.get(f"/can-bo/ho-so/{birth['code']}")).text
        )
        assert other is not None
        stray = await desk.get(f"/can-bo/ho-so/{code}/tep/{other.group(1)}")
        assert stray.status_code == 404 and "Hồ sơ này không có tệp đó." in stray.text
        # Dates as dd/mm/yyyy.
        born = _summary((await desk.get(f"/can-bo/ho-so/{birth['code']}")).text, "declaration")
        assert re.fullmatch(r"\d{2}/\d{2}/\d{4}", born["Ngày sinh"]), born
    async with signed_in(stack, "tpht.specialist", demo_password) as elsewhere:
        refused = await elsewhere.get(links["Mở Giấy đề nghị đăng ký hộ kinh doanh (PDF, 1 KB)"])
        assert refused.status_code == 403 and "không thuộc phòng ban" in refused.text
        assert b"%PDF" not in refused.content
    reads = [
        (actor, refused_with)
        for actor, action, refused_with in await _trail(sessionmaker, code)
        if action == "read_file"
    ]
    # Audited as the API's reads are (the stray file's too: the dossier was read).
    assert reads == [(DESK, None), (DESK, None), ("tpht.specialist", 403)]


def _summary(html: str, css_class: str) -> dict[str, str]:
    """A summary list's rows (the one with `css_class`), key to value, as read on screen."""
    block = re.search(rf'<dl class="summary-list {css_class}">(.*?)</dl>', html, re.S)
    assert block, f"no summary list {css_class}"
    rows = re.findall(r"<dt>(.*?)</dt>\s*<dd>(.*?)</dd>", block.group(1), re.S)
    return {unescape(k).strip(): unescape(v).strip() for k, v in rows}


async def test_the_page_names_people_steps_and_channels_in_words(
    api: ApiClient, stack: Stack, sessionmaker: Sessionmaker, demo_password: str
) -> None:
    """No codes on the page: the slip's channel, route, officials (by their full names where
    known) and roles are written out."""
    async with sessionmaker.begin() as session:
        await upsert_official(
            session, "kt.lan", hash_password(demo_password), "KT", "specialist", "Nguyễn Thị Lan"
        )
    created = await api.submit("1.001612")
    code, key = created["code"], created["lookup_key"]
    moved(await api.act(code, DESK, "accept"), "review", "tham_dinh")
    async with signed_in(stack, "kt.lan", demo_password) as lan:
        inbox = (await lan.get("/can-bo")).text
        assert "Nguyễn Thị Lan" in inbox and "kt.lan" not in inbox  # the header's name
        card = re.search(rf"{re.escape(code)}</a></h2>(.*?)</li>", inbox, re.S)
        assert card is not None
        assert "Cần: thẩm định" in card.group(1) and "nộp trực tuyến" in card.group(1)
        r = await _page_act(
            lan,
            code,
            _form_keys((await lan.get(f"/can-bo/ho-so/{code}")).text),
            "approve",
            note="Đủ điều kiện",
        )
        assert r.status_code == 303
    await api.wait_for_history(code, key, "approve")
    async with signed_in(stack, "kt.head", demo_password) as head:
        page = (await head.get(f"/can-bo/ho-so/{code}")).text
        # Rejecting and returning: each its own form, its reason required.
        assert "Lý do không chấp thuận (người nộp hồ sơ sẽ đọc được)" in page
        assert "Lý do trả lại (cán bộ bước trước sẽ đọc được)" in page
        r = await _page_act(head, code, _form_keys(page), "return", note=" ")
        assert r.status_code == 422 and 'href="#return-note"' in r.text
        r = await _page_act(head, code, _form_keys(page), "reject", note="Trùng tên")
        assert r.status_code == 200 and "Bạn chắc chắn không chấp thuận hồ sơ" in r.text
    text_only = unescape(re.sub(r"<[^>]+>", " ", page))
    assert "Việc cần làm: xem xét, duyệt (bước “Trưởng phòng xem xét”), hạn" in " ".join(
        text_only.split()
    )
    assert "Trưởng phòng xem xét — Phòng Kinh tế (trưởng phòng)" in text_only
    assert "Kênh nộp: trực tuyến" in text_only and "channel=" not in text_only
    assert "Thẩm định hồ sơ (Phòng Kinh tế) → Trưởng phòng xem xét (Phòng Kinh tế)" in text_only
    assert "@KT" not in text_only and "tham_dinh" not in text_only
    assert "Nguyễn Thị Lan" in text_only and "kt.lan" not in text_only
    assert "applicant" not in text_only and "specialist" not in text_only


async def test_the_header_offers_only_the_pages_each_official_may_open(
    stack: Stack, demo_password: str
) -> None:
    expected = {
        DESK: (True, False),  # the counter, not the figures
        "kt.specialist": (False, False),
        "ld.leader": (False, True),
        "ops.operator": (False, True),
    }
    for username, (counter, dashboard) in expected.items():
        async with signed_in(stack, username, demo_password) as client:
            nav = (await client.get("/can-bo")).text.split("</nav>")[0]
            assert ('href="/can-bo/tiep-nhan"' in nav) is counter, username
            assert ('href="/can-bo/thong-ke"' in nav) is dashboard, username
            # And each page the header leaves out refuses this official.
            if not counter:
                assert (await client.get("/can-bo/tiep-nhan")).status_code == 403
            if not dashboard:
                assert (await client.get("/can-bo/thong-ke")).status_code == 403


async def test_each_inbox_view_is_audited_with_the_dossiers_listed(
    api: ApiClient, stack: Stack, sessionmaker: Sessionmaker, demo_password: str
) -> None:
    code = (await api.submit("1.001193"))["code"]
    async with signed_in(stack, DESK, demo_password) as desk:
        since = await _last_audit_id(sessionmaker)
        assert code in (await desk.get("/can-bo")).text
        await desk.get("/can-bo?loc=qua-han")
    async with sessionmaker() as session:
        rows = list(
            await session.scalars(
                select(AuditRow)
                .where(AuditRow.id > since, AuditRow.action == "list_tasks")
                .order_by(AuditRow.id)
            )
        )
    assert [(r.actor, r.role) for r in rows] == [(DESK, "desk_officer")] * 2
    assert code in rows[0].detail["codes"]
    assert code not in rows[1].detail["codes"]  # not overdue: not listed under that filter


async def _last_audit_id(sessionmaker: Sessionmaker) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.max(AuditRow.id))) or 0)


def test_a_moment_typed_as_the_hint_says_is_read() -> None:
    expected = datetime(2026, 3, 25, 14, 0, tzinfo=VN_TZ)
    for typed in ("2026-03-25T14:00", "25/03/2026, 14:00", "25/03/2026 14:00", "14:00 25/03/2026"):
        assert typed_moment(typed) == expected, typed
    assert typed_moment("mai") is None
    assert number_text(50_000_000) == "50.000.000" and number_text(1234.5) == "1.234,5"
    assert size_text(14) == "1 KB" and size_text(1_572_864) == "1,5 MB"


async def test_the_counter_tells_the_desk_how_to_print_the_applicants_slip(
    api: ApiClient, stack: Stack, demo_password: str
) -> None:
    async with signed_in(stack, DESK, demo_password) as desk:
        base = f"/can-bo/tiep-nhan/{COPY}"
        checked = await fill_and_check(desk, api, COPY, base=base, delivery="counter")
        sent = await confirm(desk, checked, f"{base}/gui")
        assert sent.status_code == 303
        done = unescape((await desk.get(sent.headers["location"])).text)
        code = done.split('class="panel__reference">')[1].split("<")[0]
        # Before intake, this page prints as the slip (no script prints for the desk).
        assert "<h2>In phiếu cho người nộp</h2>" in done
        assert "lệnh In của trình duyệt" in done and "/tai-lieu/" not in done
        moved(await api.act(code, DESK, "accept"), "review")
        # Once accepted, form 01 is the slip to print.
        link = await until_linked(
            desk, sent.headers["location"], rf"/can-bo/ho-so/{code}/tai-lieu/[0-9a-f-]+"
        )
        done = unescape((await desk.get(sent.headers["location"])).text)
        assert f'<a class="button" href="{link}">In phiếu cho người nộp (mẫu 01, PDF)</a>' in done

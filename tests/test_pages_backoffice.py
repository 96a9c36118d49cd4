"""The back office (`/can-bo`) over HTTP, as a browser posts its forms: logging in (the API's
accounts, throttling and audit) and out, the inbox of a department and role, the dossier page
with exactly the actions its official may take now, and those actions applied as the API
applies them: audited alike, told on their field when wrong, applied once when sent twice."""

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from api.main import create_app
from api.security import TokenClaims, issue_token
from domain.calendar import VN_TZ
from domain.catalog import load_catalog
from motcua.settings import Settings
from store.db import Sessionmaker
from store.models import AuditRow, Dossier
from tests.client import DESK, ApiClient, moved
from tests.conftest import Stack, insert_dossier


@pytest.fixture
def api(http: httpx.AsyncClient, demo_password: str) -> ApiClient:
    return ApiClient(http, demo_password)


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
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("motcua_session=")
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/can-bo" in cookie
        assert "Secure" not in cookie  # served over plain HTTP here; Secure behind HTTPS

        inbox = await client.get("/can-bo")
        assert inbox.status_code == 200
        assert "Hồ sơ cần xử lý" in inbox.text and "kt.specialist" in inbox.text
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
    strict = settings.model_copy(update={"login_failures_allowed": 3})
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
    claims = TokenClaims("kt.specialist", "KT", "specialist")
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
        order = sorted(codes.values(), key=inbox.index)
        assert order == [codes["overdue"], codes["today"], codes["due_soon"], codes["on_time"]]
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
        assert r.status_code == 422  # the workflow's own rule
        assert 'href="#note"' in r.text and "Nhập lý do" in r.text
        r = await _page_act(desk, code, keys, "request_supplement", note="Thiếu giấy chứng sinh")
        assert r.status_code == 422 and 'href="#components"' in r.text
        assert "Thiếu giấy chứng sinh" in r.text  # what was typed stays
        r = await _page_act(desk, code, keys, "extend", new_due_at="mai", note="Chậm")
        assert r.status_code == 422 and 'href="#new-due-at"' in r.text
        r = await _page_act(desk, code, keys, "fly")
        assert r.status_code == 422 and "Thao tác không hợp lệ" in r.text
    state = await api.status(code, key)
    assert state["status_code"] == 1 and len(state["history"]) == 2  # nothing happened


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

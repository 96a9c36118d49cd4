"""Registering a paper dossier at the counter (`/can-bo/tiep-nhan`): the agency's one-stop
desk on the portal's form (channel `counter`), the code and key handed over once; any other
department refused."""

import re
from html import unescape

import httpx
from playwright.async_api import Page, expect

from store.db import Sessionmaker
from store.models import Dossier
from tests.browser import assert_accessible, log_in_on
from tests.client import DESK, ApiClient
from tests.dossier_pages import (
    COPY,
    LAND,
    confirm,
    fill_and_check,
    fill_form,
    procedure,
    receipt_key,
    signed_in,
    until_linked,
)

# ---- the counter ------------------------------------------------------------------------------


async def test_the_desk_registers_a_paper_dossier(
    visitor: httpx.AsyncClient, api: ApiClient, demo_password: str, sessionmaker: Sessionmaker
) -> None:
    await signed_in(visitor, "bpmc.desk_officer", demo_password)
    offered = await visitor.get("/can-bo/tiep-nhan")
    assert offered.status_code == 200
    assert f'href="/can-bo/tiep-nhan/{COPY}"' in offered.text
    assert LAND not in offered.text  # the other agency's
    assert (await visitor.get(f"/can-bo/tiep-nhan/{LAND}")).status_code == 404
    base = f"/can-bo/tiep-nhan/{COPY}"
    checked = await fill_and_check(visitor, api, COPY, base=base, delivery="counter")
    assert checked.status_code == 200, checked.text
    sent = await confirm(visitor, checked, f"{base}/gui")
    assert sent.status_code == 303
    done = await visitor.get(sent.headers["location"])
    assert done.status_code == 200
    code = re.search(r'class="panel__reference">([^<]+)<', done.text).group(1)  # type: ignore[union-attr]
    key = receipt_key(done.text)
    assert (await api.status(code, key))["status_code"] == 1
    assert f'href="/can-bo/ho-so/{code}"' in done.text
    async with sessionmaker() as session:
        dossier = await session.get(Dossier, code)
    assert dossier is not None and dossier.channel == "counter"
    # The key is for the applicant: shown to the desk once, not again later.
    visitor.cookies.delete("motcua_counter_key")
    later = await visitor.get(sent.headers["location"])
    assert key not in later.text and "chỉ hiện một lần" in unescape(later.text)
    # Accepted (on the dossier page): form 01 to print for the applicant.
    assert (await api.act(code, DESK, "accept")).status_code == 200
    link = await until_linked(
        visitor, sent.headers["location"], rf"/can-bo/ho-so/{code}/tai-lieu/[0-9a-f-]+"
    )
    form_01 = await visitor.get(link)
    assert form_01.status_code == 200 and form_01.content.startswith(b"%PDF")


async def test_other_departments_cannot_register_at_the_counter(
    visitor: httpx.AsyncClient, demo_password: str
) -> None:
    await signed_in(visitor, "kt.specialist", demo_password)
    r = await visitor.get("/can-bo/tiep-nhan")
    assert r.status_code == 403 and "Chỉ cán bộ Bộ phận Một cửa" in unescape(r.text)
    assert (await visitor.get(f"/can-bo/tiep-nhan/{COPY}")).status_code == 403
    token = visitor.cookies["motcua_csrf"]
    r = await visitor.post(f"/can-bo/tiep-nhan/{COPY}/gui", data={"csrf_token": token})
    assert r.status_code == 403


async def test_the_counter_needs_a_session(visitor: httpx.AsyncClient) -> None:
    r = await visitor.get("/can-bo/tiep-nhan")
    assert r.status_code == 303 and r.headers["location"].startswith("/can-bo/dang-nhap")


async def test_phone_the_desk_registers_at_the_counter(
    phone: Page, api: ApiClient, demo_password: str
) -> None:
    await log_in_on(phone, "bpmc.desk_officer", demo_password)
    await phone.goto("/can-bo/tiep-nhan")
    await assert_accessible(phone)
    await phone.get_by_role("link", name="Chứng thực bản sao từ bản chính").click()
    await fill_form(phone, await procedure(api, COPY), "Nhận tại Bộ phận Một cửa")
    await assert_accessible(phone)
    await phone.get_by_role("button", name="Tiếp tục").click()
    await expect(phone.get_by_role("heading", level=1)).to_have_text("Kiểm tra trước khi đăng ký")
    await assert_accessible(phone)
    await phone.get_by_role("button", name="Đăng ký hồ sơ").click()
    await expect(phone.get_by_role("heading", level=1)).to_have_text("Đã đăng ký hồ sơ")
    await assert_accessible(phone)
    code = (await phone.locator(".panel__reference").inner_text()).strip()
    key = (await phone.locator("#lookup-key").inner_text()).strip()
    assert (await api.status(code, key))["status_code"] == 1


async def test_phone_another_department_is_refused_the_counter(
    phone: Page, demo_password: str
) -> None:
    await log_in_on(phone, "kt.specialist", demo_password)
    response = await phone.goto("/can-bo/tiep-nhan")
    assert response is not None and response.status == 403
    await expect(phone.get_by_role("heading", level=1)).to_have_text(
        "Không có quyền tiếp nhận tại quầy"
    )
    await assert_accessible(phone)

"""The back office in a browser on a phone (390×844), as officials use it: log in, work the
inbox, act from the dossier page; every page accessible (axe)."""

import re

from playwright.async_api import Browser, Page, expect

from domain.dossier import StatusCode
from tests.browser import assert_accessible, log_in_on, log_out, new_phone, screenshot
from tests.client import DESK, ApiClient
from tests.conftest import Stack


async def test_each_department_approves_from_its_inbox(
    phone: Page, api: ApiClient, demo_password: str
) -> None:
    created = await api.submit("1.001612")
    code, key = created["code"], created["lookup_key"]

    await phone.goto("/can-bo")
    await expect(phone).to_have_url(re.compile(r"/can-bo/dang-nhap\?next=/can-bo$"))
    await assert_accessible(phone)
    await screenshot(phone, "login")
    # A wrong password first.
    await phone.get_by_label("Tên đăng nhập").fill(DESK)
    await phone.get_by_label("Mật khẩu").fill("sai-mat-khau")
    await phone.get_by_role("button", name="Đăng nhập").click()
    await expect(phone.get_by_role("alert")).to_contain_text("mật khẩu không đúng")
    await assert_accessible(phone)

    await log_in_on(phone, DESK, demo_password)
    await assert_accessible(phone)
    await screenshot(phone, "inbox")
    await _header_is_usable(phone)
    await phone.get_by_role("link", name=code).click()
    await assert_accessible(phone)
    await phone.get_by_role("button", name="Tiếp nhận").click()
    await expect(phone.get_by_role("status")).to_contain_text(f"Đã tiếp nhận hồ sơ {code}")
    await log_out(phone)

    for official in ("kt.specialist", "kt.head", "ld.leader"):
        await log_in_on(phone, official, demo_password)
        await phone.get_by_role("link", name=code).click()
        await expect(phone.get_by_role("heading", level=1)).to_have_text(code)
        await assert_accessible(phone)
        if official == "kt.specialist":
            await screenshot(phone, "dossier-official")
        await phone.get_by_role("button", name="Duyệt").click()
        await expect(phone.get_by_role("status")).to_contain_text(f"Đã duyệt hồ sơ {code}")
        await log_out(phone)

    state = await api.status(code, key)
    assert state["stage"] == "payment" and state["status_code"] == 6


async def _header_is_usable(phone: Page) -> None:
    """Each header link a finger's height, and legible when focused (dark on yellow)."""
    for item in await phone.locator(".header__nav a, .header__nav button").all():
        box = await item.bounding_box()
        assert box is not None and box["height"] >= 44, await item.text_content()
        await item.focus()
        color = await item.evaluate("e => getComputedStyle(e).color")
        background = await item.evaluate("e => getComputedStyle(e).backgroundColor")
        assert (color, background) == ("rgb(11, 12, 12)", "rgb(255, 221, 0)"), (
            await item.text_content()
        )


async def test_a_refusal_with_its_reason(phone: Page, api: ApiClient, demo_password: str) -> None:
    created = await api.submit("1.001193")
    code, key = created["code"], created["lookup_key"]
    await log_in_on(phone, DESK, demo_password)
    await phone.goto(f"/can-bo/ho-so/{code}")
    await phone.get_by_role("button", name="Từ chối").click()
    await expect(phone.get_by_role("alert")).to_contain_text("Nhập lý do từ chối")
    await assert_accessible(phone)
    await phone.get_by_label("Lý do từ chối").fill("Hồ sơ không thuộc thẩm quyền của xã")
    await phone.get_by_role("button", name="Từ chối").click()
    # Asked once more, the reason as the applicant will read it.
    await expect(phone.get_by_role("heading", level=1)).to_have_text(
        f"Bạn chắc chắn từ chối tiếp nhận hồ sơ {code}?"
    )
    await expect(phone.get_by_text("Hồ sơ không thuộc thẩm quyền của xã")).to_be_visible()
    await assert_accessible(phone)
    await screenshot(phone, "refusal-confirm")
    await phone.get_by_role("button", name="Quay lại").click()
    await expect(phone.get_by_label("Lý do từ chối")).to_have_value(
        "Hồ sơ không thuộc thẩm quyền của xã"
    )
    assert (await api.status(code, key))["status_code"] == StatusCode.SUBMITTED
    await phone.get_by_role("button", name="Từ chối").click()
    await phone.get_by_role("button", name="Xác nhận từ chối").click()
    await expect(phone.get_by_role("status")).to_contain_text("Đã từ chối tiếp nhận")
    state = await api.status(code, key)
    assert state["status_code"] == StatusCode.REFUSED
    assert state["history"][-1]["note"] == "Hồ sơ không thuộc thẩm quyền của xã"


async def test_a_supplement_request_names_the_missing_components(
    phone: Page, api: ApiClient, demo_password: str
) -> None:
    created = await api.submit("1.001612")
    code, key = created["code"], created["lookup_key"]
    await log_in_on(phone, DESK, demo_password)
    await phone.goto(f"/can-bo/ho-so/{code}")
    await phone.get_by_label("Hợp đồng thuê địa điểm kinh doanh").check()
    await phone.get_by_label("Nội dung cần bổ sung, hoàn thiện").fill("Thiếu hợp đồng thuê")
    await phone.get_by_role("button", name="Yêu cầu bổ sung").click()
    await expect(phone.get_by_role("status")).to_contain_text("Đã gửi yêu cầu bổ sung")
    state = await api.status(code, key)
    assert state["status_code"] == StatusCode.SUPPLEMENT_REQUESTED
    [asked] = [e for e in state["history"] if e["action"] == "request_supplement"]
    assert asked["note"] == "Thiếu hợp đồng thuê"
    # The applicant's turn now: the desk is offered nothing on the step.
    await phone.goto(f"/can-bo/ho-so/{code}")
    await expect(phone.get_by_text("không có thao tác nào")).to_be_visible()
    await assert_accessible(phone)


async def test_a_stale_form_is_refused_with_a_clear_message(
    browser: Browser, stack: Stack, api: ApiClient, demo_password: str
) -> None:
    created = await api.submit("1.001193")
    code, key = created["code"], created["lookup_key"]
    tabs = []
    for _ in range(2):
        tab = await new_phone(browser, stack.base_url)
        await log_in_on(tab, DESK, demo_password)
        await tab.goto(f"/can-bo/ho-so/{code}")
        tabs.append(tab)
    first, second = tabs
    try:
        await first.get_by_role("button", name="Tiếp nhận").click()
        await expect(first.get_by_role("status")).to_contain_text("Đã tiếp nhận")
        async with second.expect_response(re.compile(r"/xu-ly$")) as answer:
            await second.get_by_role("button", name="Tiếp nhận").click()
        assert (await answer.value).status == 409
        await expect(second.get_by_role("alert")).to_contain_text("Hồ sơ đã thay đổi")
        # The page shows the dossier as it is now: no intake any more.
        await expect(second.get_by_role("button", name="Tiếp nhận")).to_have_count(0)
        await assert_accessible(second)
    finally:
        for tab in tabs:
            await tab.context.close()
    state = await api.status(code, key)
    assert [e["action"] for e in state["history"]].count("accept") == 1


async def test_another_department_is_refused_the_dossier_page(
    phone: Page, api: ApiClient, demo_password: str
) -> None:
    created = await api.submit("1.001612")
    await log_in_on(phone, "tpht.specialist", demo_password)
    response = await phone.goto(f"/can-bo/ho-so/{created['code']}")
    assert response is not None and response.status == 403
    await expect(phone.get_by_role("heading", level=1)).to_have_text("Không xem được hồ sơ")
    await expect(phone.get_by_text("không thuộc phòng ban")).to_be_visible()
    await assert_accessible(phone)

"""The pages' shell: served in Vietnamese with their security headers, static files cached."""

import re

import httpx
from playwright.async_api import Page

from tests.browser import assert_accessible
from tests.conftest import Stack
from tests.dossier_pages import signed_in


async def test_home_page_is_vietnamese_and_guarded(http: httpx.AsyncClient) -> None:
    r = await http.get("/")
    assert r.status_code == 200
    assert '<html lang="vi">' in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "same-origin"


async def test_phone_home(phone: Page) -> None:
    await phone.goto("/")
    await assert_accessible(phone)
    await phone.screenshot(path="/tmp/home.png")


async def test_logging_in_renews_the_form_token(stack: Stack, demo_password: str) -> None:
    """A form token from before the login (which another site might have planted) is worth
    nothing after it; the session cookie is not sent on links from other sites."""
    async with httpx.AsyncClient(base_url=stack.base_url) as browser:
        page = (await browser.get("/can-bo/dang-nhap")).text
        before = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert before is not None
        r = await browser.post(
            "/can-bo/dang-nhap",
            data={"csrf_token": before[1], "username": "kt.specialist", "password": demo_password},
        )
        assert r.status_code == 303, r.text
        [session] = [c for c in r.headers.get_list("set-cookie") if c.startswith("motcua_session")]
        assert "SameSite=strict" in session
        assert browser.cookies["motcua_csrf"] != before[1]
        stale = await browser.post("/can-bo/dang-xuat", data={"csrf_token": before[1]})
        assert stale.status_code == 403


async def test_a_hand_made_page_request_gets_a_page_not_json(
    visitor: httpx.AsyncClient, demo_password: str
) -> None:
    """Text the database cannot store, in a back-office address: a page in Vietnamese saying
    so, never the API's JSON (which the API itself still answers)."""
    await signed_in(visitor, "kt.specialist", demo_password)
    r = await visitor.get("/can-bo/ho-so/%00")
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html"), r.text
    assert "Yêu cầu không hợp lệ" in r.text

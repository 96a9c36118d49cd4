"""The pages' shell: served in Vietnamese with their security headers, static files cached."""

import httpx
from playwright.async_api import Page

from tests.browser import assert_accessible


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

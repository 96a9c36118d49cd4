"""Browser tests' helpers: Playwright driving Debian's Chromium on a phone-sized screen, axe-core
for accessibility, and screenshots of the main pages for the README."""

import io
import os
import re
import shutil
from pathlib import Path

from axe_playwright_python.async_playwright import Axe
from PIL import Image
from playwright.async_api import Browser, Page, ViewportSize, expect

# Playwright's own browser download cannot work here: Debian's Chromium is driven instead.
CHROMIUM = Path(os.environ.get("MOTCUA_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # The browser's own words (the file picker's button) in Vietnamese too.
    "--lang=vi",
]
MISSING = (
    f"BROWSER TESTS SKIPPED: no Chromium at {CHROMIUM}. Install it with "
    "`sudo apt-get install chromium` (Debian/Ubuntu) and run `make test` again."
)
PHONE: ViewportSize = {"width": 390, "height": 844}
SCREENSHOTS = Path(__file__).parent.parent / "docs" / "screenshots"

_axe = Axe()


def chromium_available() -> bool:
    return CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is not None


async def new_phone(browser: Browser, base_url: str) -> Page:
    """A page in a browser of its own (cookies, cache) on a phone-sized screen (390×844), in
    Vietnamese, at `base_url`."""
    context = await browser.new_context(
        viewport=PHONE,
        base_url=base_url,
        locale="vi-VN",
        is_mobile=True,
        has_touch=True,
        accept_downloads=True,
    )
    context.set_default_timeout(15_000)
    return await context.new_page()


async def assert_accessible(page: Page) -> None:
    """axe-core finds no serious or critical violation on the page as it stands."""
    results = await _axe.run(page)
    violations = [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not violations, f"{page.url}:\n" + "\n".join(violations)


async def screenshot(page: Page, name: str) -> None:
    """A small PNG of the page's first screen, for the README (kept when MOTCUA_SCREENSHOTS
    is set: `MOTCUA_SCREENSHOTS=1 make test` refreshes them), in 64 colours to stay light."""
    if os.environ.get("MOTCUA_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shot = Image.open(io.BytesIO(await page.screenshot(full_page=False)))
        small = shot.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT)
        small.save(SCREENSHOTS / f"{name}.png", optimize=True)


async def log_in_on(page: Page, username: str, password: str) -> None:
    """An official logs in to the back office through its form, and lands in the inbox."""
    await page.goto("/can-bo/dang-nhap")
    await page.get_by_label("Tên đăng nhập").fill(username)
    await page.get_by_label("Mật khẩu").fill(password)
    await page.get_by_role("button", name="Đăng nhập").click()
    await expect(page).to_have_url(re.compile(r"/can-bo$"))


async def log_out(page: Page) -> None:
    await page.get_by_role("button", name="Đăng xuất").click()
    await expect(page.get_by_text("Bạn đã đăng xuất.")).to_be_visible()

"""Browser tests' helpers: Playwright driving Debian's Chromium on a phone-sized screen, axe-core
for accessibility, and screenshots of the main pages for the README."""

import os
import shutil
from pathlib import Path

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page

# Playwright's own browser download cannot work here: Debian's Chromium is driven instead.
CHROMIUM = Path(os.environ.get("MOTCUA_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MISSING = (
    f"BROWSER TESTS SKIPPED: no Chromium at {CHROMIUM}. Install it with "
    "`sudo apt-get install chromium` (Debian/Ubuntu) and run `make test` again."
)
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = Path(__file__).parent.parent / "docs" / "screenshots"

_axe = Axe()


def chromium_available() -> bool:
    return CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is not None


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
    is set: `MOTCUA_SCREENSHOTS=1 make test` refreshes them)."""
    if os.environ.get("MOTCUA_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)

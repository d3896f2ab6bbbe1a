"""Every shipped template in a real browser, at 600 px (the widest an email is laid out
for) and 375 px (a phone): Debian's Chromium driven by Playwright, as
tests/api/dashboard/test_dashboard_browser.py does (skipped without it, unless
JOURNEYS_TEST_REQUIRE_BROWSER=1).

Each email is the API's preview of its sample (``POST /v1/templates/{name}/preview``), and
the test checks what a reader would notice: no sideways scrolling, the heading and every
link within the width, the preheader there but hidden, text large enough to read, no
broken image, the desktop layout at 600 px and the phone's at 375. Then the dashboard's
preview page: both frames show the email (its Content-Security-Policy lets the sandboxed
``srcdoc`` frames render, and no script).

Screenshots, ``template-<name>-<width>.png`` and ``dashboard-template-preview.png``, go to
JOURNEYS_SCREENSHOTS_DIR when set (``make screenshots``: docs/screenshots/), else to the
test's temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

from journeys.storage.settings import PROJECT_ROOT
from tests.api.conftest import API_KEY, AUTH
from tests.api.dashboard.test_dashboard_browser import CHROMIUM, WAIT_MS, browser_or_skip

SCREENSHOTS_DIR = os.environ.get("JOURNEYS_SCREENSHOTS_DIR")
WIDTHS = (600, 375)
LAYOUT_PADDING = {600: "44px", 375: "20px"}  # the card's, desktop and phone (_layouts/base.html)
SHIPPED = sorted(p.name for p in (PROJECT_ROOT / "templates").iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))

# What a reader sees, measured in the page: sideways overflow, what sticks out, tiny text, broken images.
MEASURE = """() => {
  const width = document.documentElement.clientWidth;
  const out = [...document.querySelectorAll('a, h1, img, table')].filter(e => {
    const box = e.getBoundingClientRect();
    return box.width > 0 && box.right > width + 0.5;
  }).map(e => e.outerHTML.slice(0, 80));
  const tiny = [...document.querySelectorAll('p, li, td, a')].filter(e => {
    const box = e.getBoundingClientRect();
    return box.width > 0 && e.innerText.trim() && parseFloat(getComputedStyle(e).fontSize) < 12;
  }).map(e => e.innerText.slice(0, 40));
  const hidden = document.querySelector('body > div[aria-hidden="true"]');
  return {
    scrollWidth: document.documentElement.scrollWidth,
    out, tiny,
    broken: [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src),
    preheader: hidden ? hidden.textContent : null,
    preheaderShown: hidden ? hidden.getBoundingClientRect().height > 0 && getComputedStyle(hidden).display !== 'none' : null,
    heading: (document.querySelector('h1') || {}).innerText || null,
    padding: getComputedStyle(document.querySelector('.content')).paddingLeft,
  };
}"""


async def previews(base_url: str) -> dict[str, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=base_url, headers=AUTH) as http:
        found = {}
        for name in SHIPPED:
            answer = await http.post(f"/v1/templates/{name}/preview", json={})
            assert answer.status_code == 200, (name, answer.text)
            found[name] = answer.json()
        return found


async def test_every_shipped_template_reads_well_at_600_and_375_px(live_api: str, tmp_path: Path) -> None:
    browser_or_skip()
    from playwright.async_api import async_playwright, expect

    assert SHIPPED == ["cart_reminder", "getting_started", "receipt", "welcome"], "a new template: look at its pictures"
    pictures = Path(SCREENSHOTS_DIR) if SCREENSHOTS_DIR else tmp_path / "screenshots"
    pictures.mkdir(parents=True, exist_ok=True)
    emails = await previews(live_api)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            problems: dict[str, Any] = {}
            for name, email in emails.items():
                assert email["subject"] and email["preheader"], name
                for width in WIDTHS:
                    context = await browser.new_context(viewport={"width": width, "height": 800}, java_script_enabled=True)
                    page = await context.new_page()
                    await page.set_content(email["html"], wait_until="load")
                    seen = await page.evaluate(MEASURE)
                    await page.screenshot(path=str(pictures / f"template-{name}-{width}.png"), full_page=True)
                    await context.close()
                    wrong = {
                        "scrolls sideways": seen["scrollWidth"] > width and seen["scrollWidth"],
                        "sticks out": seen["out"], "tiny text": seen["tiny"], "broken images": seen["broken"],
                        "preheader": seen["preheader"] != email["preheader"] and seen["preheader"],
                        "preheader shown": seen["preheaderShown"], "no heading": not seen["heading"],
                        # The layout's phone rules (max-width: 480px) at 375 px only: 600 px is the desktop layout.
                        "layout": seen["padding"] != LAYOUT_PADDING[width] and seen["padding"],
                    }
                    wrong = {what: detail for what, detail in wrong.items() if detail}
                    if wrong:
                        problems[f"{name} at {width}px"] = wrong
            assert problems == {}

            # The dashboard's preview page: both frames render the email, no script anywhere.
            context = await browser.new_context(base_url=live_api, viewport={"width": 1280, "height": 900})
            context.set_default_timeout(WAIT_MS)
            page = await context.new_page()
            refused: list[str] = []
            page.on("console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None)
            await page.goto("/dashboard/login?next=%2Fdashboard%2Ftemplates%2Fcart_reminder")
            await page.fill("#key", API_KEY)
            await page.click("button[type=submit].primary")
            await expect(page).to_have_url(f"{live_api}/dashboard/templates/cart_reminder")
            for width in WIDTHS:
                frame = page.frame_locator(f'iframe[data-width="{width}"]')
                await expect(frame.locator("h1")).to_have_text("You left something in your cart")
                inner = page.frames[1 + WIDTHS.index(width)]
                assert await inner.evaluate("document.documentElement.scrollWidth") <= width
            assert refused == [], refused
            await page.screenshot(path=str(pictures / "dashboard-template-preview.png"), full_page=True)
            await context.close()
        finally:
            await browser.close()

"""The dashboard in a real browser, against the live stack filled by tests/scenario.py.

Debian's Chromium (``/usr/bin/chromium``), never a downloaded one, driven by Playwright:
the test logs in, reads every figure of the journey page and the journeys list and
compares them with the scenario's (which the JSON API and /metrics must give too), clicks
Retry on the dead letter the scenario made, opens a customer's timeline, and saves a
full-page screenshot of each page: in JOURNEYS_SCREENSHOTS_DIR when set (``make screenshots``
sets it to docs/screenshots/, where the README's pictures live), else in the test's own
temporary folder, so an ordinary run leaves the committed pictures alone.

Skipped when Chromium or Playwright is missing, unless JOURNEYS_TEST_REQUIRE_BROWSER=1
(as in CI, .ci/run): then it fails.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from tests import scenario
from tests.conftest import wait_until
from tests.live_stack import API_KEY, live_stack

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("JOURNEYS_TEST_REQUIRE_BROWSER") == "1"
SCREENSHOTS_DIR = os.environ.get("JOURNEYS_SCREENSHOTS_DIR")
METRICS = ("delivered", "opened", "clicked", "bounced", "complained", "unsubscribed")
WAIT_MS = 10_000  # every wait on the page has this deadline


def browser_or_skip() -> None:
    missing = []
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package (pip install -e '.[dev]')")
    if missing:
        message = "the browser test needs " + " and ".join(missing)
        if REQUIRE_BROWSER:
            pytest.fail(message + ", and JOURNEYS_TEST_REQUIRE_BROWSER=1")
        pytest.skip(message)


async def number(locator: Any) -> int:
    """The count a cell shows: its first line, after any "name: " ("order.placed: 4")."""
    first = (await locator.inner_text()).strip().splitlines()[0]
    return int(first.rsplit(": ", 1)[-1].replace(",", ""))


async def named(scope: Any, prefix: str, inner: str = "") -> dict[str, int]:
    """{name: count} of every ``data-figure="<prefix>:<name>"`` in ``scope``."""
    found = {}
    for element in await scope.locator(f'[data-figure^="{prefix}:"]').all():
        name = (await element.get_attribute("data-figure")).split(":", 1)[1]
        found[name] = await number(element.locator(inner) if inner else element)
    return found


async def step_figures(row: Any) -> dict[str, int]:
    return {metric: await number(row.locator(f'[data-figure="{metric}"]')) for metric in ("sent", *METRICS)}


async def journey_page_view(page: Any) -> dict[str, Any]:
    """What the journey page shows, in the scenario's EXPECTED shape."""
    cards = page.locator(".cards")
    journey: dict[str, Any] = {key: await number(cards.locator(f'[data-figure="{key}"] .value')) for key in ("entered", "active", "completed", "cancelled")}
    journey["exited"] = await named(cards, "exited")
    journey["converted"] = await named(cards, "converted", ".value")
    steps, not_sent = {}, {}
    for row in await page.locator('table[aria-label="Steps"] tr[data-step]').all():
        name = await row.get_attribute("data-step")
        steps[name], not_sent[name] = await step_figures(row), await named(row, "not_sent")
    variants: dict[str, Any] = {}
    for row in await page.locator(f'table[data-split="{scenario.SPLIT}"] tr[data-variant]').all():
        variant = await row.get_attribute("data-variant")
        variants[variant] = {key: await number(row.locator(f'[data-figure="{key}"]')) for key in ("entered", "active", "completed")}
        variants[variant].update(exited=await named(row, "exited"), converted=await named(row, "converted"), steps={})
    for row in await page.locator(f'table[data-split-steps="{scenario.SPLIT}"] tr[data-variant]').all():
        variants[await row.get_attribute("data-variant")]["steps"][await row.get_attribute("data-step")] = await step_figures(row)
    now = {}
    for row in await page.locator('table[aria-label="Where customers wait now"] tr[data-step]').all():
        now[await row.get_attribute("data-step")] = await number(row.locator('[data-figure="waiting"]'))
    return {"journey": journey, "steps": steps, "not_sent": not_sent, "variants": variants, "now": now}


async def shoot(page: Any, name: str, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(folder / f"dashboard-{name}.png"), full_page=True)


async def check_the_api(http: httpx.AsyncClient) -> None:
    figures = (await http.get(f"/v1/journeys/{scenario.JOURNEY}/analytics")).json()
    assert scenario.api_view(figures) == scenario.EXPECTED
    [significance] = [s for s in figures["splits"] if s["split"] == scenario.SPLIT][0]["significance"]
    assert (significance["control"], significance["variant"], significance["verdict"]) == ("control", "bold", "not enough data yet")
    [offer] = [s for s in figures["steps"] if s["step"] == scenario.OFFER]
    assert offer["rates"] == {"delivered": 0.9, "opened": 0.7, "clicked": 0.5, "bounced": 0.1, "complained": 0.1, "unsubscribed": 0.1}
    headline = {j["journey"]: j for j in (await http.get("/v1/journeys")).json()}[scenario.JOURNEY]
    assert (headline["entered"], headline["sent"], headline["opened"], headline["clicked"]) == (11, 15, 7, 5)
    assert headline["conversion_rate"] == {"order.placed": 0.3636}


async def test_the_dashboard_shows_the_scenario_in_a_real_browser(dev_server: WorkflowEnvironment, tmp_path: Path) -> None:
    browser_or_skip()
    from playwright.async_api import async_playwright, expect

    assert scenario.derived() == scenario.EXPECTED, "the scenario's figures, worked out by hand, are its people's"
    pictures = Path(SCREENSHOTS_DIR) if SCREENSHOTS_DIR else tmp_path / "screenshots"
    async with live_stack(dev_server, tmp_path, **scenario.SETTINGS) as stack, stack.http() as http:
        played = await scenario.play(stack, http)
        await check_the_api(http)
        assert scenario.metric_deltas(played.before, await scenario.scrape(http)) == scenario.expected_metrics(retried=False)

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            context = await browser.new_context(base_url=stack.base_url, viewport={"width": 1280, "height": 800})
            context.set_default_timeout(WAIT_MS)
            page = await context.new_page()
            try:
                # Not logged in: the login form, which goes on to the page asked for.
                await page.goto(f"/dashboard/journeys/{scenario.JOURNEY}")
                assert page.url == f"{stack.base_url}/dashboard/login?next=%2Fdashboard%2Fjourneys%2F{scenario.JOURNEY}"
                await shoot(page, "login", pictures)
                await page.fill("#key", "not-the-key")
                await page.click("button[type=submit].primary")
                await expect(page.get_by_role("alert")).to_have_text("That is not the API key.")
                await page.fill("#key", API_KEY)
                await page.click("button[type=submit].primary")
                await expect(page).to_have_url(f"{stack.base_url}/dashboard/journeys/{scenario.JOURNEY}")
                [cookie] = await context.cookies()
                assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (True, "Lax", "/dashboard")

                # The journey page: every figure the scenario's, and the rates per email sent.
                assert await journey_page_view(page) == scenario.EXPECTED
                offer = page.locator(f'table[aria-label="Steps"] tr[data-step="{scenario.OFFER}"]')
                assert [await offer.locator(f'[data-figure="{m}"] .sub').inner_text() for m in METRICS] == ["90.0%", "70.0%", "50.0%", "10.0%", "10.0%", "10.0%"]
                control, bold = (page.locator(f'table[data-split="{scenario.SPLIT}"] tr[data-variant="{v}"]') for v in ("control", "bold"))
                assert await control.locator('[data-figure="converted:order.placed"] .sub').inner_text() == "16.7%"
                assert await bold.locator('[data-figure="converted:order.placed"] .sub').inner_text() == "60.0%"
                assert "36.4% of entries" in await page.locator('.cards [data-figure="converted:order.placed"]').inner_text()
                await expect(page.locator('.significance [data-goal="order.placed"][data-variant="bold"] [data-figure="verdict"]')).to_have_text("not enough data yet")
                await expect(page.locator("svg.chart title").first).to_have_text(f"The funnel of {scenario.JOURNEY}, step by step")
                await shoot(page, "journey", pictures)

                # The journeys list: the headline figures.
                await page.click("text=← All journeys")
                await expect(page).to_have_url(f"{stack.base_url}/dashboard")
                row = page.locator(f'tr[data-journey="{scenario.JOURNEY}"]')
                shown = {key: await number(row.locator(f'[data-figure="{key}"]')) for key in ("entered", "active", "completed", "exited", "converted", "sent", "opened", "clicked")}
                assert shown == {"entered": 11, "active": 5, "completed": 1, "exited": 5, "converted": 4, "sent": 15, "opened": 7, "clicked": 5}
                assert await named(row, "converted") == {} and "order.placed: 4 (36.4%)" in await row.locator('[data-figure="converted"]').inner_text()
                await shoot(page, "journeys", pictures)

                # The dead letter the refused offer made: Retry sends it again, as a one-off.
                await page.click("header.top >> text=Dead letters")
                await expect(page.locator("header.top .badge")).to_have_text("1")
                letter = page.locator(f'tr[data-letter="{played.dead_letter}"]')
                await expect(letter).to_contain_text(scenario.REFUSED.name)
                await expect(letter).to_contain_text("554")
                await shoot(page, "dead-letters", pictures)
                await letter.get_by_role("button", name="Retry").click()
                await expect(page.get_by_role("status")).to_have_text(f"{played.dead_letter} is being sent again as a one-off, through the send policy.")
                await expect(letter).to_have_count(0)
                await expect(page.locator("header.top .badge")).to_have_count(0)

                # A customer's timeline, from the search box.
                await page.fill("#nav-customer", "amelia")
                await page.click("header.top form.search button")
                await expect(page.locator("h1")).to_have_text("Customer amelia")
                timeline = page.locator('table[aria-label="Timeline"]')
                for said in ("split subject drew variant control", "spring_offer delivered via postmark", "spring_offer clicked",
                             "goal order.placed reached", "spring_offer exited on order.placed", "spring_follow_up (send:spring_follow_up) sent"):
                    await expect(timeline).to_contain_text(said)
                await shoot(page, "customer", pictures)
            finally:
                await browser.close()

        # What Retry did, seen from outside: the offer went to the refused customer after all.
        async def retried_offer_sent() -> bool:
            return any(m.to == scenario.REFUSED.email for m in scenario.mailbox(stack))

        await wait_until(retried_offer_sent, timeout=15, what="the retried offer in the mailbox")
        assert (await http.get("/v1/dead-letters")).json() == []

        async def counted() -> bool:
            deltas = scenario.metric_deltas(played.before, await scenario.scrape(http))
            return deltas == scenario.expected_metrics(retried=True)

        try:
            await wait_until(counted, timeout=10, what="the retry in /metrics")
        except AssertionError:
            pass
        assert scenario.metric_deltas(played.before, await scenario.scrape(http)) == scenario.expected_metrics(retried=True)

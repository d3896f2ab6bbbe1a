"""The significance figure on the journey page, against the case worked out by hand in
tests/journeys/analytics/test_significance.py, fed to the hourly roll-ups directly (two
thousand entries, without two thousand journeys)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from journeys.analytics.rollup import JOURNEY_LEVEL, bump
from journeys.analytics.runs import ENTERED, converted
from journeys.storage.database import Database
from tests.api.dashboard.conftest import BEARER

AT = datetime(2025, 5, 6, 14, 30, tzinfo=timezone.utc)
GOAL = "user.activated"
# By hand: control 100 of 1,000 (10 %), long 130 of 1,000 (13 %); pooled p = 230/2000 =
# 0.115; standard error = sqrt(0.115 * 0.885 * (1/1000 + 1/1000)) = 0.0142671;
# z = 0.03 / 0.0142671 = 2.1027; two-sided p = erfc(2.1027 / sqrt 2) = 0.0355.
BY_HAND = {"control": (1000, 100), "long": (1000, 130)}


async def feed(db: Database, counts: dict[str, tuple[int, int]]) -> None:
    """Entries and conversions of the ``welcome`` journey's ``subject`` split, in one hour."""
    async with db.session() as session:
        for variant, (entries, conversions) in counts.items():
            for metric, by in ((ENTERED, entries), (converted(GOAL), conversions)):
                await bump(db, session, journey="welcome", step=JOURNEY_LEVEL, at=AT, metric=metric, by=by, variants={"subject": variant})
        await session.commit()


def significance_line(page: str) -> str:
    found = re.search(r'<li data-goal="user.activated" data-variant="long">(.*?)</li>', page, re.S)
    assert found, "no significance line for long against the control"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", found[1])).strip()


@pytest.mark.parametrize("dashboard_settings", [{"analytics_min_sample": 1000}])
async def test_the_page_shows_the_p_value_computed_by_hand(logged_in: httpx.AsyncClient, app_db: Database) -> None:
    await feed(app_db, BY_HAND)
    page = await logged_in.get("/dashboard/journeys/welcome", params={"from": "2025-05-06", "to": "2025-05-06"})
    assert page.status_code == 200
    assert significance_line(page.text) == (
        "user.activated: long 13.0% vs. control 10.0%, lift +30.0%: "
        "long converts better (95% confidence, p = 0.0355) (z = 2.1027)"
    )
    assert '<span class="verdict significant" data-figure="verdict">' in page.text
    assert "it needs 1,000 entries in each variant" in page.text
    control = re.search(r'<tr data-variant="control">.*?</tr>', page.text, re.S)
    assert control and '<td class="num" data-figure="entered">1,000</td>' in control[0]
    assert '<td class="num" data-figure="converted:user.activated">100<span class="sub">10.0%</span></td>' in control[0]
    # The JSON API gives the same figures.
    api = (await logged_in.get("/v1/journeys/welcome/analytics", headers=BEARER)).json()
    [result] = api["splits"][0]["significance"]
    assert (result["z"], result["p_value"], result["significant"]) == (2.1027, 0.0355, True)
    # Out of the range, none of it counts.
    earlier = await logged_in.get("/dashboard/journeys/welcome", params={"to": "2025-05-05"})
    assert "No A/B split has drawn a variant in this range." in earlier.text


@pytest.mark.parametrize(
    ("dashboard_settings", "counts"),
    [
        ({"analytics_min_sample": 1001}, BY_HAND),  # one entry short of the minimum in each variant
        ({"analytics_min_sample": 100}, {"control": (1000, 4), "long": (1000, 30)}),  # four conversions: too few
        ({"analytics_min_sample": 100}, {"control": (1000, 997), "long": (1000, 900)}),  # three non-conversions
    ],
)
async def test_below_the_minimum_sample_it_says_not_enough_data_yet(
    logged_in: httpx.AsyncClient, app_db: Database, counts: dict[str, tuple[int, int]], dashboard_settings: dict[str, Any]
) -> None:
    await feed(app_db, counts)
    page = await logged_in.get("/dashboard/journeys/welcome")
    line = significance_line(page.text)
    assert line.endswith(": not enough data yet") and "p =" not in line and "z =" not in line
    assert f"it needs {dashboard_settings['analytics_min_sample']:,} entries in each variant" in page.text

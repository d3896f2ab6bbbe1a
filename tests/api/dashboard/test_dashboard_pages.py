"""The dashboard's pages over HTTP (httpx against the app; Temporal away): what every page
answers with, text escaped wherever it comes from, the dead letters' buttons, the time
range, and the pages for what does not exist."""

from __future__ import annotations

import re
from urllib.parse import quote

import httpx
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import col

from journeys.analytics import runs
from journeys.storage.database import Database
from journeys.storage.tables import MessageRow
from tests.api.dashboard.conftest import BEARER, csrf_of
from tests.journeys.operations.test_dead_letters import dead_event, dead_message

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
EVIL = "zoë\"'<script>alert(1)<&amp;<b>"  # quotes, unicode, markup, an entity; no slash (ids have none)


def assert_page_headers(answer: httpx.Response) -> None:
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert answer.headers["content-security-policy"] == CSP
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "same-origin"


async def test_every_page_is_never_cached_never_framed_and_runs_no_script(
    dashboard_app: FastAPI, logged_in: httpx.AsyncClient, app_db: Database
) -> None:
    await runs.record_entry(app_db, "welcome", "ann", "e1", "journey:welcome:ann")
    assert (await logged_in.put("/v1/customers/ann", json={"email": "ann@example.com"}, headers=BEARER)).status_code == 201
    pages = {
        "/dashboard": 200, "/dashboard/journeys/welcome": 200, "/dashboard/dead-letters": 200, "/dashboard/customers": 200,
        "/dashboard/customers?id=ann": 200, "/dashboard/customers?id=nobody": 404, "/dashboard/customers?id=a/b": 422,
        "/dashboard/journeys/nope": 404, "/dashboard?from=yesterday": 422, "/dashboard/journeys/welcome?from=2024-02-30": 422,
    }
    for path, status in pages.items():
        answer = await logged_in.get(path)
        assert answer.status_code == status, (path, answer.text[:500])
        assert_page_headers(answer)
        assert "<script" not in answer.text.lower(), path
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=dashboard_app), base_url="http://journeys.test") as fresh:
        for answer in (await fresh.get("/dashboard/login"), await fresh.post("/dashboard/login", data={"key": "wrong"})):
            assert answer.status_code in (200, 401)
            assert_page_headers(answer)


async def test_text_from_customers_and_urls_is_escaped_everywhere(logged_in: httpx.AsyncClient, app_db: Database) -> None:
    put = await logged_in.put(f"/v1/customers/{quote(EVIL, safe='')}", json={"email": "zoe@example.com"}, headers=BEARER)
    assert put.status_code == 201, put.text
    event = {"id": f"{EVIL}-1", "type": "user.signed_up", "customer_id": EVIL, "properties": {"note": "<img src=x onerror=alert(1)>"}}
    assert (await logged_in.post("/v1/events", json=event, headers=BEARER)).status_code == 202
    await dead_message(app_db, "mevil", "failed", customer=EVIL)
    escaped = "zoë&#34;&#39;&lt;script&gt;alert(1)&lt;&amp;amp;&lt;b&gt;"

    page = await logged_in.get("/dashboard/customers", params={"id": EVIL})
    assert page.status_code == 200
    assert f'<h1>Customer <span class="id">{escaped}</span></h1>' in page.text
    assert f"<title>Customer {escaped} · Journeys</title>" in page.text
    assert "<script>" not in page.text and "<b>" not in page.text and "<img" not in page.text
    link = re.search(r'href="(/dashboard/customers\?id=[^"]+&amp;message=mevil)"', page.text)
    assert link, "the id goes in the query, percent-encoded"
    narrowed = await logged_in.get(link[1].replace("&amp;", "&"))
    assert narrowed.status_code == 200 and "Only the items of message" in narrowed.text
    assert len(re.findall(r'<tr data-kind="send"', narrowed.text)) >= 1 and 'data-kind="event"' not in narrowed.text

    letters = await logged_in.get("/dashboard/dead-letters")
    assert escaped in letters.text and "<script>" not in letters.text

    unknown = await logged_in.get("/dashboard/customers", params={"id": EVIL + "x"})
    assert unknown.status_code == 404 and f'value="{escaped}x"' in unknown.text
    journey = await logged_in.get("/dashboard/journeys/" + quote("<script>x", safe=""))
    assert journey.status_code == 404 and "There is no journey named &#39;&lt;script&gt;x&#39;" in journey.text
    forged_notice = await logged_in.get("/dashboard/dead-letters", params={"done": "discarded", "id": "<script>x"})
    assert "<script>" not in forged_notice.text and 'role="status"' not in forged_notice.text, "no id of that shape: no notice"
    bad_range = await logged_in.get("/dashboard", params={"from": "<script>"})
    assert bad_range.status_code == 422 and "from: &#39;&lt;script&gt;&#39; is not a date" in bad_range.text


async def dead_ids(client: httpx.AsyncClient) -> list[str]:
    return [d["id"] for d in (await client.get("/v1/dead-letters", headers=BEARER)).json()]


async def test_the_buttons_retry_and_discard_and_say_what_they_did(logged_in: httpx.AsyncClient, app_db: Database) -> None:
    event = await dead_event(app_db)
    failed, unknown = await dead_message(app_db, "m1", "failed", minutes_ago=2), await dead_message(app_db, "m2", "unknown")
    page = await logged_in.get("/dashboard/dead-letters")
    assert re.findall(r'<tr data-letter="([^"]+)"', page.text) == [unknown, failed, event], "newest last try first"
    assert '<span class="badge" title="dead letters waiting">3</span>' in page.text
    assert re.findall(r'<tr data-letter="([^"]+)"', (await logged_in.get("/dashboard/dead-letters?kind=event")).text) == [event]
    token = csrf_of(page)

    async def press(letter: str, action: str) -> httpx.Response:
        answer = await logged_in.post(f"/dashboard/dead-letters/{letter}/{action}", data={"csrf": token})
        assert answer.status_code == 303
        return await logged_in.get(answer.headers["location"])

    shown = await press(event, "retry")
    assert f"{event} is back in the outbox: it is being handed to Temporal now." in shown.text
    assert f'data-letter="{event}"' not in shown.text
    assert (await logged_in.get("/healthz")).json()["events_waiting_for_dispatch"] >= 1
    shown = await press(failed, "retry")
    assert f"{failed} is being sent again as a one-off, through the send policy." in shown.text
    shown = await press(unknown, "discard")
    assert f"{unknown} is set aside for good: still on record, no longer listed or counted." in shown.text
    assert "No dead letters: nothing needs an operator." in shown.text and 'class="badge"' not in shown.text
    assert await dead_ids(logged_in) == []

    again = await press(failed, "retry")
    assert f'<p class="notice problem" role="status">{failed} is not a dead letter any more' in again.text
    for odd in ("e99999999999999999999999999", "e1x", "x1", "m", "e", "m" + "a" * 100, "e-1"):
        answer = await logged_in.post(f"/dashboard/dead-letters/{odd}/retry", data={"csrf": token})
        assert answer.status_code == 303 and "done=gone" in answer.headers["location"], odd


async def test_a_message_that_no_longer_passes_intake_cannot_be_retried(logged_in: httpx.AsyncClient, app_db: Database) -> None:
    letter = await dead_message(app_db, "m1", "failed")
    deep: dict[str, object] = {}
    for _ in range(40):  # deeper than intake takes (32 levels)
        deep = {"a": deep}
    async with app_db.session() as session:
        await session.exec(update(MessageRow).where(col(MessageRow.id) == "m1").values(context=deep))  # type: ignore[call-overload]
        await session.commit()
    token = csrf_of(await logged_in.get("/dashboard/dead-letters"))
    answer = await logged_in.post(f"/dashboard/dead-letters/{letter}/retry", data={"csrf": token})
    shown = await logged_in.get(answer.headers["location"])
    assert "cannot be sent again as it is: its context no longer passes intake. Discard it instead." in shown.text
    assert await dead_ids(logged_in) == [letter]


async def test_the_journeys_list_and_a_journey_page_answer_without_temporal(logged_in: httpx.AsyncClient, app_db: Database) -> None:
    await runs.record_entry(app_db, "welcome", "ann", "e1", "journey:welcome:ann")
    await runs.record_outcome(app_db, "welcome", "ann", "e1", "journey:welcome:ann", "exited", "user.deleted")
    await runs.record_entry(app_db, "welcome", "bob", "e2", "journey:welcome:bob")
    listed = await logged_in.get("/dashboard")
    row = re.search(r'<tr data-journey="welcome">.*?</tr>', listed.text, re.S)
    assert row and '<td class="num" data-figure="entered">2</td>' in row[0] and '<td class="num" data-figure="active">1</td>' in row[0]
    assert '<span class="sub">user.deleted: 1</span>' in row[0]
    assert re.findall(r'<tr data-journey="([^"]+)"', listed.text) == ["abandoned_cart", "message", "welcome"]
    page = await logged_in.get("/dashboard/journeys/welcome")
    assert '<div class="card figure" data-figure="entered"><div class="label">Entered</div><div class="value">2</div>' in page.text
    assert '<span data-figure="exited:user.deleted">user.deleted: 1</span>' in page.text
    assert "Temporal did not answer; the figures above are the database&#39;s" in page.text
    assert "No A/B split has drawn a variant in this range." in page.text


async def test_the_range_is_days_in_utc_both_ends_included(logged_in: httpx.AsyncClient) -> None:
    page = await logged_in.get("/dashboard/journeys/welcome", params={"from": "2024-03-01", "to": "2024-03-31"})
    assert page.status_code == 200
    assert "Counting from 2024-03-01 00:00:00 UTC to 2024-04-01 00:00:00 UTC (days in UTC)." in page.text
    assert 'href="/dashboard?from=2024-03-01&amp;to=2024-03-31"' in page.text, "the way back keeps the range"
    for bad in ({"from": "2024-04-01", "to": "2024-03-01"}, {"to": "0001-01-01"}, {"from": "2024-1-1"}):
        answer = await logged_in.get("/dashboard/journeys/welcome", params=bad)
        assert answer.status_code == 422 and 'class="notice problem" role="alert"' in answer.text, bad

"""The analytics and timeline routes over HTTP (Temporal away: the database's figures
still answer, without the live step breakdown)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from journeys.analytics import runs
from journeys.customers.identity import merge_into


async def test_every_journey_is_listed_with_its_headline_figures(api: httpx.AsyncClient, api_app: FastAPI) -> None:
    db = api_app.state.journeys.db
    await runs.record_entry(db, "welcome", "ann", "e1", "journey:welcome:ann")
    await runs.record_outcome(db, "welcome", "ann", "e1", "journey:welcome:ann", "exited", "user.deleted")
    listed = (await api.get("/v1/journeys")).json()
    by_name = {j["journey"]: j for j in listed}
    assert sorted(by_name) == ["abandoned_cart", "message", "welcome"]
    assert by_name["welcome"]["entered"] == 1 and by_name["welcome"]["exited"] == {"user.deleted": 1}
    assert by_name["welcome"]["triggers"] == ["user.signed_up"] and by_name["abandoned_cart"]["entered"] == 0


async def test_one_journeys_analytics_answer_without_temporal(api: httpx.AsyncClient, api_app: FastAPI) -> None:
    db = api_app.state.journeys.db
    await runs.record_entry(db, "welcome", "ann", "e1", "journey:welcome:ann")
    answer = await api.get("/v1/journeys/welcome/analytics", params={"from": "2020-01-01T00:00:00Z"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["entered"] == 1 and body["active"] == 1 and body["since"] == "2020-01-01T00:00:00Z"
    assert body["live"]["available"] is False and "Temporal" in body["live"]["note"]


async def test_analytics_refuse_what_they_cannot_answer(api: httpx.AsyncClient) -> None:
    unknown = await api.get("/v1/journeys/nope/analytics")
    assert unknown.status_code == 404 and "known: abandoned_cart, message, welcome" in unknown.json()["detail"]
    bad = await api.get("/v1/journeys/welcome/analytics", params={"to": "yesterday"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "to"]


async def test_a_customers_timeline(api: httpx.AsyncClient) -> None:
    assert (await api.get("/v1/customers/nobody/timeline")).status_code == 404
    await api.post("/v1/events", json={"id": "e1", "type": "user.signed_up", "customer_id": "ann"})
    told = (await api.get("/v1/customers/ann/timeline")).json()
    assert told["ids"] == ["ann"] and [i["summary"] for i in told["items"]] == ["event user.signed_up received"]
    assert told["items"][0]["event_id"] == "e1"


async def test_a_merged_ids_timeline_is_its_customers(api: httpx.AsyncClient, api_app: FastAPI) -> None:
    await api.post("/v1/events", json={"id": "v1", "type": "page.viewed", "customer_id": "anon-1"})
    await api.put("/v1/customers/bea", json={"email": "bea@example.com"})
    await merge_into(api_app.state.journeys.db, "anon-1", "bea")
    told = await api.get("/v1/customers/anon-1/timeline")
    assert told.status_code == 200, told.text
    assert told.json()["customer_id"] == "bea" and told.json()["ids"] == ["bea", "anon-1"]

"""GET /metrics on the API: public, Prometheus's text format, truthfully documented; requests
counted by route template; intake counted by source; the backlog read from the database.

Temporal is away in these tests (tests/api/conftest.py), so stored events wait in the
outbox: the backlog gauges have something to say. Counters are the process's own and other
tests count too, so counter checks compare two scrapes; gauges describe this test's
database and are checked as they are. The whole stack in fresh processes, with exact
counter values, is tests/journeys/telemetry/test_stack_metrics.py.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI
from temporalio.client import Client

from api.app import create_app
from journeys.storage.settings import Settings
from journeys.storage.temporal import DATA_CONVERTER
from tests.api.conftest import API_KEY
from tests.conftest import free_port, wait_until
from tests.journeys.operations.test_dead_letters import dead_event, dead_message
from tests.journeys.telemetry.scrape import Scrape, naming_problems


async def scrape(api: httpx.AsyncClient) -> Scrape:
    answer = await api.get("/metrics", headers={"Authorization": ""})  # public: no key
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return Scrape(answer.text)


async def test_metrics_are_public_prometheus_text_and_documented_so(api: httpx.AsyncClient) -> None:
    result = await scrape(api)
    assert naming_problems(result, "journeys_") == []
    operation = (await api.get("/openapi.json")).json()["paths"]["/metrics"]["get"]
    assert list(operation["responses"]["200"]["content"]) == ["text/plain"]
    assert "security" not in operation


async def test_requests_are_counted_by_route_template_never_by_path(api: httpx.AsyncClient) -> None:
    def requests(s: Scrape, route: str, method: str, status: str) -> float:
        return s.value("journeys_http_requests_total", route=route, method=method, status=status)

    customer = "metrics-cust-7781"
    before = await scrape(api)
    assert (await api.put(f"/v1/customers/{customer}", json={"email": "ann@example.com"})).status_code == 201
    assert (await api.get(f"/v1/customers/{customer}", headers={"Authorization": ""})).status_code == 401  # the guard's
    assert (await api.get("/no/such/path")).status_code == 404
    assert (await api.request("PROPFIND", "/v1/events")).status_code == 405
    after = await scrape(api)

    template = "/v1/customers/{customer_id}"
    assert requests(after, template, "PUT", "201") - requests(before, template, "PUT", "201") == 1
    assert requests(after, template, "GET", "401") - requests(before, template, "GET", "401") == 1
    assert requests(after, "other", "GET", "404") - requests(before, "other", "GET", "404") == 1
    assert requests(after, "/v1/events", "other", "405") - requests(before, "/v1/events", "other", "405") == 1
    count = after.value("journeys_http_request_duration_seconds_count", route=template, method="PUT")
    assert count - before.value("journeys_http_request_duration_seconds_count", route=template, method="PUT") == 1
    text = (await api.get("/metrics")).text
    assert customer not in text and "/no/such/path" not in text


async def test_events_are_counted_by_source_and_wait_in_the_outbox_while_temporal_is_away(
    api: httpx.AsyncClient,
) -> None:
    before = await scrape(api)
    signup = {"id": "mx-signup-1", "type": "user.signed_up", "customer_id": "mx-ann"}
    assert (await api.post("/v1/events", json=signup)).json()["accepted"] == 1
    assert (await api.post("/v1/events", json=signup)).json()["duplicates"] == 1
    views = [{"id": f"mx-view-{i}", "type": "page.viewed", "customer_id": "mx-ann"} for i in range(2)]
    assert (await api.post("/v1/events", json={"events": views})).json()["accepted"] == 2

    async def handed_back() -> Scrape | None:
        now = await scrape(api)
        retried = now.value("journeys_dispatched_total", how="retried") - before.value("journeys_dispatched_total", how="retried")
        return now if retried >= 1 and now.value("journeys_dispatch_lag_seconds") > 0 else None

    after = await wait_until(handed_back, timeout=30, what="a hand-over failing while Temporal is away")
    assert after.value("journeys_events_accepted_total", source="api") - before.value("journeys_events_accepted_total", source="api") == 3
    assert after.value("journeys_events_duplicate_total", source="api") - before.value("journeys_events_duplicate_total", source="api") == 1
    assert after.value("journeys_ingest_duration_seconds_count") - before.value("journeys_ingest_duration_seconds_count") == 3
    assert after.value("journeys_dispatched_total", how="start") == before.value("journeys_dispatched_total", how="start")
    # Gauges of this test's database: the sign-up waits (nobody listens to page.viewed).
    assert after.value("journeys_outbox_depth") == 1
    assert 0 < after.value("journeys_dispatch_lag_seconds") < 60
    health = (await api.get("/healthz")).json()
    assert health["events_waiting_for_dispatch"] == after.value("journeys_outbox_depth")


async def test_dead_letters_are_counted_by_kind(api: httpx.AsyncClient, api_app: FastAPI) -> None:
    empty = await scrape(api)
    assert (empty.value("journeys_dead_letters", kind="event"), empty.value("journeys_dead_letters", kind="message")) == (0, 0)
    db = api_app.state.journeys.db
    await dead_event(db)
    await dead_message(db, "m1", "failed")
    await dead_message(db, "m2", "unknown")
    result = await scrape(api)
    assert result.value("journeys_dead_letters", kind="event") == 1
    assert result.value("journeys_dead_letters", kind="message") == 2
    assert (await api.get("/healthz")).json()["dead_letters"] == 3


async def test_without_the_database_the_rest_is_still_served(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path,
        database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/test",  # nothing listens there
        api_key=API_KEY,
        relay_interval_seconds=30,
    )
    temporal = await Client.connect(f"127.0.0.1:{free_port()}", data_converter=DATA_CONVERTER, lazy=True)
    app = create_app(settings, temporal_client=temporal)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://j.test") as client:
            result = await scrape(client)
    assert "journeys_http_requests" in result.families
    assert "journeys_outbox_depth" not in result.families, "left out, not a stale or made-up value"
    assert "journeys_dead_letters" not in result.families

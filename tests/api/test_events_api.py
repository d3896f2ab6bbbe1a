"""POST /v1/events: accepted, duplicates, and errors that name the field."""

from datetime import datetime, timezone

import httpx
from fastapi import FastAPI
from sqlmodel import select

from journeys.storage.tables import EventRow


async def stored_ids(app: FastAPI) -> list[str]:
    async with app.state.journeys.db.session() as session:
        return sorted((await session.exec(select(EventRow.id))).all())


async def test_one_event_is_accepted(api: httpx.AsyncClient, api_app: FastAPI) -> None:
    response = await api.post(
        "/v1/events", json={"id": "e1", "type": "user.signed_up", "customer_id": "c1", "properties": {"plan": "pro"}}
    )
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "duplicates": 0, "duplicate_ids": []}
    assert await stored_ids(api_app) == ["e1"]


async def test_a_batch_reports_duplicates_by_id(api: httpx.AsyncClient, api_app: FastAPI) -> None:
    await api.post("/v1/events", json={"id": "e1", "type": "page.viewed", "customer_id": "c1"})
    response = await api.post(
        "/v1/events",
        json={"events": [{"id": "e1", "type": "page.viewed", "customer_id": "c1"}, {"id": "e2", "type": "page.viewed", "customer_id": "c2", "timestamp": "2026-01-02T03:04:05Z"}]},
    )
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "duplicates": 1, "duplicate_ids": ["e1"]}
    async with api_app.state.journeys.db.session() as session:
        e2 = await session.get(EventRow, "e2")
    assert e2 is not None and e2.timestamp == datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


async def test_an_event_for_an_unknown_customer_is_kept(api: httpx.AsyncClient, api_app: FastAPI) -> None:
    response = await api.post("/v1/events", json={"id": "e9", "type": "cart.abandoned", "customer_id": "not-yet-known"})
    assert response.status_code == 202 and await stored_ids(api_app) == ["e9"]


async def test_a_missing_field_is_422_naming_it(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/events", json={"id": "e1", "customer_id": "c1"})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "type"] and error["msg"] == "Field required"


async def test_one_bad_event_in_a_batch_stores_none_of_it(api: httpx.AsyncClient, api_app: FastAPI) -> None:
    events = [{"id": f"e{i}", "type": "page.viewed", "customer_id": "c1"} for i in range(5)]
    events[3]["type"] = "Not A Type!"
    response = await api.post("/v1/events", json={"events": events})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "events", 3, "type"]
    assert await stored_ids(api_app) == []


async def test_bad_shapes_are_422_with_a_reason(api: httpx.AsyncClient) -> None:
    cases = {
        "not json": b"{nope",
        "not an object": b"[1, 2]",
        "empty batch": b'{"events": []}',
        "unknown field": b'{"id": "e1", "type": "a", "customer_id": "c1", "colour": "red"}',
        "bad timestamp": b'{"id": "e1", "type": "a", "customer_id": "c1", "timestamp": "yesterday"}',
        "properties not an object": b'{"id": "e1", "type": "a", "customer_id": "c1", "properties": [1]}',
    }
    for name, body in cases.items():
        response = await api.post("/v1/events", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 422, name
        assert response.json()["detail"][0]["msg"], name


async def test_more_than_1000_events_is_422(api: httpx.AsyncClient) -> None:
    events = [{"id": f"e{i}", "type": "a", "customer_id": "c"} for i in range(1001)]
    response = await api.post("/v1/events", json={"events": events})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "events"]


async def test_events_are_accepted_while_temporal_is_away_and_wait_in_the_outbox(
    api: httpx.AsyncClient, api_app: FastAPI
) -> None:
    from journeys.storage.tables import DispatchRow
    from tests.conftest import wait_until

    response = await api.post("/v1/events", json={"id": "e1", "type": "user.signed_up", "customer_id": "c1"})
    assert response.status_code == 202

    async def attempt_failed() -> DispatchRow | None:
        async with api_app.state.journeys.db.session() as session:
            row = await session.get(DispatchRow, 1)
        return row if row is not None and row.attempts >= 1 else None

    row = await wait_until(attempt_failed, what="the dispatch attempt against the absent Temporal")
    assert row.dispatched_at is None and row.last_error, "kept for the relay, with the reason"
    health = await api.get("/healthz")
    assert health.json()["events_waiting_for_dispatch"] == 1
    page_viewed = await api.post("/v1/events", json={"id": "e2", "type": "page.viewed", "customer_id": "c1"})
    assert page_viewed.status_code == 202
    assert (await api.get("/healthz")).json()["events_waiting_for_dispatch"] == 1, "no journey cares: no outbox row"

"""The database or Temporal away: 503 with Retry-After, and nothing changed (never a 500)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest_asyncio
from temporalio.client import Client

from api.app import create_app
from journeys.storage.settings import Settings
from journeys.storage.temporal import DATA_CONVERTER
from tests.api.conftest import API_KEY, AUTH
from tests.conftest import free_port


@pytest_asyncio.fixture
async def no_database(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        home=tmp_path,
        database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/test",  # nothing listens there
        api_key=AUTH["Authorization"].removeprefix("Bearer "),
        relay_interval_seconds=30,
    )
    temporal = await Client.connect(f"127.0.0.1:{free_port()}", data_converter=DATA_CONVERTER, lazy=True)
    app = create_app(settings, temporal_client=temporal)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://j.test", headers=AUTH) as client:
            yield client


async def test_with_the_database_away_every_write_is_a_503_to_retry(no_database: httpx.AsyncClient) -> None:
    answers = [
        await no_database.post("/v1/events", json={"id": "e1", "type": "user.signed_up", "customer_id": "c1"}),
        await no_database.put("/v1/customers/c1", json={"email": "ann@example.com"}),
        await no_database.get("/v1/customers/c1"),
        await no_database.post("/v1/identify", json={"userId": "c1", "traits": {"email": "a@example.com"}}, auth=(API_KEY, "")),
    ]
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.headers["Retry-After"] == "5"
        assert "the database is unavailable" in answer.json()["detail"]


async def test_with_temporal_away_a_customers_journeys_are_a_503(api: httpx.AsyncClient) -> None:
    """(The `api` fixture's Temporal client points at a closed port.)"""
    await api.put("/v1/customers/ann", json={"email": "ann@example.com"})
    listed = await api.get("/v1/customers/ann/journeys")
    assert listed.status_code == 503 and listed.headers["Retry-After"] == "5"
    assert "Temporal is unavailable" in listed.json()["detail"]
    cancelled = await api.delete("/v1/customers/ann/journeys/welcome")
    assert cancelled.status_code == 503


async def test_with_temporal_away_erasure_is_a_503_and_nothing_is_deleted(api: httpx.AsyncClient) -> None:
    await api.put("/v1/customers/ann", json={"email": "ann@example.com"})
    await api.post("/v1/events", json={"id": "e1", "type": "user.signed_up", "customer_id": "ann"})
    erased = await api.delete("/v1/customers/ann")
    assert erased.status_code == 503 and erased.headers["Retry-After"] == "5"
    assert (await api.get("/v1/customers/ann")).status_code == 200, "the profile is still there"
    assert (await api.get("/healthz")).json()["events_waiting_for_dispatch"] == 1, "and the event"

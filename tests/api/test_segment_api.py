"""The Segment tracking API, spoken by the official segment-analytics-python library.

The SDK runs as apps run it (background thread, batches, gzip) against the API served on
loopback; what it sent is read back from the customer store and the event store.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from segment.analytics.client import Client as SegmentClient
from sqlmodel import col, select

from journeys.storage.database import Database
from journeys.storage.tables import CustomerAliasRow, CustomerRow, DispatchRow, EventRow
from tests.api.conftest import API_KEY


@pytest.fixture
def db(api_app: FastAPI) -> Database:
    return api_app.state.journeys.db  # type: ignore[no-any-return]


@pytest.fixture
def sdk(live_api: str) -> Iterator[tuple[SegmentClient, list[Exception]]]:
    errors: list[Exception] = []
    client = SegmentClient(
        write_key=API_KEY, host=live_api, gzip=True, max_retries=1, on_error=lambda exc, batch: errors.append(exc),
        upload_interval=0.05,  # the SDK's batching wait (0.5 s by default): short, for quick tests
    )
    yield client, errors
    client.shutdown()


async def flushed(sdk: tuple[SegmentClient, list[Exception]]) -> None:
    client, errors = sdk
    await asyncio.to_thread(client.flush)  # the SDK's own HTTP, in its own thread
    assert errors == []


async def events(db: Database) -> list[EventRow]:
    async with db.session() as session:
        return list((await session.exec(select(EventRow).order_by(col(EventRow.received_at), col(EventRow.id)))).all())


async def test_identify_and_track_from_the_sdk_land_as_profile_and_events(sdk, db: Database) -> None:  # type: ignore[no-untyped-def]
    client, _ = sdk
    client.identify("u1", {"email": "Ann@Example.com", "firstName": "Ann", "plan": "pro"}, context={"timezone": "Europe/Berlin", "locale": "de-DE"})
    client.track("u1", "Order Completed", {"total": 42}, message_id="m-1")
    client.track("u1", "user.signed_up", message_id="m-2")
    await flushed(sdk)

    async with db.session() as session:
        ann = await session.get(CustomerRow, "u1")
        assert ann is not None and (ann.email, ann.timezone, ann.locale) == ("Ann@example.com", "Europe/Berlin", "de-DE")
        assert ann.attributes == {"firstName": "Ann", "plan": "pro"}
        stored = {e.id: e for e in await events(db)}
        pending = {d.event_id for d in (await session.exec(select(DispatchRow))).all()}
    assert (stored["m-1"].type, stored["m-1"].properties) == ("order_completed", {"total": 42})
    assert stored["m-2"].type == "user.signed_up" and stored["m-2"].customer_id == "u1"
    assert "m-2" in pending  # welcome starts on it: waiting in the outbox while Temporal is away


async def test_a_repeated_message_id_is_stored_once(sdk, db: Database) -> None:  # type: ignore[no-untyped-def]
    client, _ = sdk
    for _ in range(3):
        client.track("u1", "user.signed_up", message_id="same-id")
    await flushed(sdk)
    assert [e.id for e in await events(db)] == ["same-id"]


async def test_a_visitor_tracked_anonymously_is_merged_into_the_customer_on_identify(sdk, db: Database) -> None:  # type: ignore[no-untyped-def]
    client, _ = sdk
    client.track(anonymous_id="anon-7", event="cart.abandoned", properties={"cart_id": "k1"}, message_id="a-1")
    await flushed(sdk)
    client.identify("u7", {"email": "bo@example.com"}, anonymous_id="anon-7", message_id="a-2")
    client.track(anonymous_id="anon-7", event="page.scrolled", message_id="a-3")  # later calls still carry only it
    await flushed(sdk)

    stored = {e.id: e for e in await events(db)}
    assert stored["a-1"].customer_id == "u7"  # moved over with the merge
    assert stored["a-3"].customer_id == "u7"  # resolved through the alias
    [merged] = [e for e in stored.values() if e.type == "journeys.customer_merged"]
    assert merged.customer_id == "anon-7" and merged.properties["customer_id"] == "u7"
    async with db.session() as session:
        assert (await session.get(CustomerAliasRow, "anon-7")).customer_id == "u7"  # type: ignore[union-attr]


async def test_alias_merges_the_previous_id(sdk, db: Database) -> None:  # type: ignore[no-untyped-def]
    client, _ = sdk
    client.identify("old-id", {"email": "cy@example.com", "tier": "gold"})
    await flushed(sdk)
    client.alias("old-id", "new-id")
    await flushed(sdk)
    async with db.session() as session:
        assert await session.get(CustomerRow, "old-id") is None
        merged = await session.get(CustomerRow, "new-id")
        assert merged is not None and merged.email == "cy@example.com" and merged.attributes == {"tier": "gold"}


# ----- the protocol at the HTTP level: auth, answers, limits ---------------------------------


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


async def post(live_api: str, path: str, body: Any, headers: dict[str, str] | None = None, raw: bytes | None = None) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        content = raw if raw is not None else json.dumps(body).encode()
        return await http.post(f"{live_api}{path}", content=content, headers={"Content-Type": "application/json", **(headers or {})})


@pytest.mark.parametrize("path", ["/v1/track", "/v1/page", "/v1/screen", "/v1/group", "/v1/identify"])
async def test_every_single_call_endpoint_answers_success(live_api: str, db: Database, path: str) -> None:
    body = {"userId": "u1", "event": "Clicked", "name": "Home", "groupId": "g1", "traits": {"name": "Acme"}, "messageId": f"m{path}"}
    answer = await post(live_api, path, body, basic(API_KEY))
    assert (answer.status_code, answer.json()) == (200, {"success": True})
    [stored] = await events(db)
    assert stored.type == {"/v1/track": "clicked", "/v1/page": "page", "/v1/screen": "screen", "/v1/group": "group", "/v1/identify": "identify"}[path]


async def test_the_write_key_is_checked_in_every_form(live_api: str, db: Database) -> None:
    call = {"userId": "u1", "event": "x"}
    assert (await post(live_api, "/v1/track", call)).status_code == 401
    wrong = await post(live_api, "/v1/track", call, basic("not-the-key"))
    assert wrong.status_code == 401 and wrong.json() == {"success": False, "code": "unauthorized", "message": "invalid write key"}
    assert (await post(live_api, "/v1/track", {**call, "writeKey": API_KEY})).status_code == 200
    assert (await post(live_api, "/v1/track", call, {"Authorization": f"Bearer {API_KEY}"})).status_code == 200
    assert len(await events(db)) == 2


async def test_sent_at_corrects_the_senders_clock(live_api: str, db: Database) -> None:
    # The device's clock runs an hour fast: it says it sent the call at 13:00 (our 12:00),
    # for something that happened ten minutes before.
    now = datetime.now(timezone.utc)
    skewed_sent = now + timedelta(hours=1)
    body = {"batch": [{"type": "track", "userId": "u1", "event": "x", "timestamp": (skewed_sent - timedelta(minutes=10)).isoformat()}],
            "sentAt": skewed_sent.isoformat()}
    assert (await post(live_api, "/v1/batch", body, basic(API_KEY))).status_code == 200
    [stored] = await events(db)
    assert abs(stored.timestamp - (now - timedelta(minutes=10))) < timedelta(seconds=5)


async def test_oversize_calls_and_batches_are_refused_with_413(live_api: str, db: Database) -> None:
    big = {"userId": "u1", "event": "x", "properties": {"blob": "x" * 33_000}}
    single = await post(live_api, "/v1/track", big, basic(API_KEY))
    assert single.status_code == 413 and "32 KB" in single.json()["message"]
    in_batch = await post(live_api, "/v1/batch", {"batch": [{"type": "track", "userId": "u", "event": "y"}, {**big, "type": "track"}]}, basic(API_KEY))
    assert in_batch.status_code == 413 and in_batch.json()["message"].startswith("batch[1]: call over 32 KB")
    calls = [{"type": "track", "userId": "u1", "event": "x", "properties": {"blob": "x" * 30_000}} for _ in range(20)]
    whole = await post(live_api, "/v1/batch", {"batch": calls}, basic(API_KEY))
    assert whole.status_code == 413 and "500 KB" in whole.json()["message"]
    bomb = gzip.compress(json.dumps({"batch": calls}).encode())  # small on the wire, too big inflated
    assert (await post(live_api, "/v1/batch", None, {**basic(API_KEY), "Content-Encoding": "gzip"}, raw=bomb)).status_code == 413
    assert await events(db) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"batch": [{"type": "track", "userId": "u1", "event": "ok"}, {"type": "track", "userId": "u1"}]}, "batch[1]: track needs event"),
        ({"batch": [{"type": "track", "event": "x"}]}, "batch[0]: track needs userId or anonymousId"),
        ({"batch": [{"type": "launch", "userId": "u1"}]}, "batch[0].type:"),
        ({"batch": [{"type": "alias", "userId": "u1"}]}, "batch[0]: alias needs userId and previousId"),
        ({"batch": []}, "body: expected"),
        ({"events": []}, "body: expected"),
    ],
)
async def test_a_malformed_request_is_refused_whole_with_what_is_wrong(live_api: str, db: Database, body: Any, message: str) -> None:
    answer = await post(live_api, "/v1/batch", body, basic(API_KEY))
    assert answer.status_code == 400 and answer.json()["code"] == "invalid_request"
    assert answer.json()["message"].startswith(message), answer.json()["message"]
    assert await events(db) == []


async def test_a_profile_hint_that_cannot_be_used_is_left_out_and_the_batch_is_stored(live_api: str, db: Database) -> None:
    body = {"batch": [
        {"type": "identify", "userId": "u1", "traits": {"email": "nope", "plan": "pro"}, "context": {"timezone": "Mars/Base"}, "messageId": "i-1"},
        {"type": "track", "userId": "u1", "event": "journeys.message", "messageId": "t-1"},
    ]}
    answer = await post(live_api, "/v1/batch", body, basic(API_KEY))
    assert answer.status_code == 200
    stored = await events(db)
    assert sorted(e.type for e in stored) == ["identify", "journeys_message"], "an app cannot send the engine's own types"
    async with db.session() as session:
        profile = await session.get(CustomerRow, "u1")
    assert profile is not None and (profile.email, profile.timezone, profile.attributes) == (None, "UTC", {"plan": "pro"})


async def test_invalid_json_is_a_400(live_api: str) -> None:
    answer = await post(live_api, "/v1/track", None, basic(API_KEY), raw=b"{not json")
    assert answer.status_code == 400 and answer.json()["message"].startswith("invalid JSON")

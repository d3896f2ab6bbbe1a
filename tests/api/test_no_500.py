"""Input a client can send gets an answer below 500, naming what is wrong: each case
here answered 500 once."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.api.conftest import API_KEY

BIG_INT = "1" * 5000  # more digits than Python converts
DEEP = "[" * 20000 + "]" * 20000


def raw(body: str, content_type: str = "application/json") -> dict[str, object]:
    return {"content": body.encode("utf-8", "surrogatepass"), "headers": {"Content-Type": content_type}}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/events", '{"id": "e", "type": "a", "customer_id": "c", "properties": {"n": %s}}' % BIG_INT),
        ("POST", "/v1/events", '{"id": "e", "type": "a", "customer_id": "c", "properties": {"n": %s}}' % DEEP),
        ("PUT", "/v1/customers/c", '{"attributes": {"n": %s}}' % BIG_INT),
        ("PUT", "/v1/customers/c", '{"attributes": {"n": %s}}' % DEEP),
        ("POST", "/v1/suppressions", DEEP),
        ("PUT", "/v1/customers/c/subscriptions", DEEP),
    ],
)
async def test_json_the_parser_cannot_take_is_a_422_naming_the_body(api: httpx.AsyncClient, method: str, path: str, body: str) -> None:
    answer = await api.request(method, path, **raw(body))  # type: ignore[arg-type]
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["detail"]
    assert error["loc"] == ["body"] and error["type"] == "json_invalid" and error["msg"].startswith("invalid JSON: ")


@pytest.mark.parametrize("provider", ["mailgun", "ses", "sendgrid", "postmark", "resend"])
async def test_deep_json_to_a_webhook_is_refused_unauthenticated_or_not(api_app: object, provider: str) -> None:
    from fastapi import FastAPI

    assert isinstance(api_app, FastAPI)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api_app), base_url="http://t") as anyone:
        answer = await anyone.post(f"/v1/webhooks/{provider}", **raw(DEEP))  # type: ignore[arg-type]
    assert 400 <= answer.status_code < 500


async def test_a_lone_surrogate_in_a_segment_write_key_is_a_wrong_key(api: httpx.AsyncClient) -> None:
    body = json.dumps({"writeKey": "\ud800", "userId": "u", "event": "e"}).encode()
    answer = await api.post("/v1/track", content=body, headers={"Authorization": "", "Content-Type": "application/json"})
    assert answer.status_code == 401 and answer.json()["code"] == "unauthorized"


async def test_a_lone_surrogate_in_a_mailgun_token_is_refused(api_app: object) -> None:
    from fastapi import FastAPI

    assert isinstance(api_app, FastAPI)
    api_app.state.journeys.settings.mailgun_webhook_signing_key = "key"
    body = json.dumps({"signature": {"token": "\ud800", "timestamp": "1700000000", "signature": "ab"}, "event-data": {}})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api_app), base_url="http://t") as anyone:
        answer = await anyone.post("/v1/webhooks/mailgun", **raw(body))  # type: ignore[arg-type]
    assert answer.status_code == 401


async def test_segment_json_the_parser_cannot_take_is_a_400(api: httpx.AsyncClient) -> None:
    body = '{"writeKey": "%s", "userId": "u", "event": "e", "properties": {"n": %s}}' % (API_KEY, BIG_INT[:4400])
    answer = await api.post("/v1/track", **raw(body))  # type: ignore[arg-type]
    assert answer.status_code == 400 and answer.json()["message"].startswith("invalid JSON")


@pytest.mark.parametrize(
    ("timestamp", "stored"),
    [("2026-01-01T00:00:00", "2026-01-01T00:00:00Z"), ("2026-01-01T01:00:00+01:00", "2026-01-01T00:00:00Z")],
)
async def test_a_naive_timestamp_is_utc(api: httpx.AsyncClient, api_app: object, timestamp: str, stored: str) -> None:
    from datetime import datetime

    from journeys.storage.tables import EventRow

    answer = await api.post("/v1/events", json={"id": "e1", "type": "a.b", "customer_id": "c", "timestamp": timestamp})
    assert answer.status_code == 202
    async with api_app.state.journeys.db.session() as session:  # type: ignore[attr-defined]
        row = await session.get(EventRow, "e1")
    assert row is not None and row.timestamp == datetime.fromisoformat(stored)


@pytest.mark.parametrize("timestamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1800-01-01T00:00:00Z"])
async def test_a_timestamp_out_of_range_is_a_422(api: httpx.AsyncClient, timestamp: str) -> None:
    answer = await api.post("/v1/events", json={"id": "e1", "type": "a.b", "customer_id": "c", "timestamp": timestamp})
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body", "timestamp"]


async def test_a_segment_clock_skew_that_overflows_is_accepted_uncorrected(api: httpx.AsyncClient, api_app: object) -> None:
    from datetime import datetime, timezone

    from journeys.storage.tables import EventRow

    call = {"writeKey": API_KEY, "userId": "u", "event": "e", "messageId": "m1", "timestamp": "9998-12-01T00:00:00Z", "sentAt": "1900-01-02T00:00:00Z"}
    answer = await api.post("/v1/track", json=call)
    assert answer.status_code == 200
    async with api_app.state.journeys.db.session() as session:  # type: ignore[attr-defined]
        row = await session.get(EventRow, "m1")
    assert row is not None and row.timestamp == datetime(9998, 12, 1, tzinfo=timezone.utc), "the time as sent"


async def test_a_405_names_every_method_of_the_path(api: httpx.AsyncClient) -> None:
    answer = await api.put("/u/some-token")
    assert answer.status_code == 405 and answer.headers["allow"] == "GET, HEAD, POST"


async def test_wide_unicode_ids_are_accepted_and_every_workflow_id_still_fits_temporal(api: httpx.AsyncClient) -> None:
    from journeys.contracts.journey_spec import MAX_WORKFLOW_ID_BYTES, workflow_id

    wide = "\U0001F600" * 200  # 200 characters (the limit), 800 bytes
    event = await api.post("/v1/events", json={"id": "e1", "type": "a.b", "customer_id": wide})
    assert event.status_code == 202, event.text
    assert (await api.put(f"/v1/customers/{wide}", json={})).status_code in (200, 201)
    for key in (None, "cart-1", "\U0001F600" * 200):
        made = workflow_id("abandoned_cart", wide, key)
        assert len(made.encode()) <= MAX_WORKFLOW_ID_BYTES
        assert made == workflow_id("abandoned_cart", wide, key), "the same id every time"
    assert workflow_id("welcome", "ann") == "journey:welcome:ann", "ordinary ids read as they are"
    assert workflow_id("welcome", wide) != workflow_id("welcome", wide[:-1] + "\U0001F601")


@pytest.mark.parametrize("locale", ["en\u0000", "\ud800", "en US", "x" * 36])
async def test_a_locale_is_a_language_tag(api: httpx.AsyncClient, locale: str) -> None:
    answer = await api.put("/v1/customers/ann", **raw(json.dumps({"locale": locale})))  # type: ignore[arg-type]
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body", "locale"]


@pytest.mark.parametrize("query", ["since=2024-01-01T00:00:00", "until=2024-01-01T00:00:00", "since=9999-12-31T23:30:00-01:00"])
async def test_dead_letter_filters_take_naive_times_as_utc_and_refuse_the_impossible(api: httpx.AsyncClient, query: str) -> None:
    answer = await api.get(f"/v1/dead-letters?{query}")
    assert answer.status_code == (422 if "9999" in query else 200)


@pytest.mark.parametrize(
    "context",
    ['{"x": NaN}', '{"x": "a\\u0000"}', '{"x": "\\ud800"}', '{"x": ' + "[" * 40 + "]" * 40 + "}", '{"x": "' + "y" * 300_000 + '"}'],
)
async def test_a_one_off_send_with_a_context_that_could_not_be_stored_is_a_422(api: httpx.AsyncClient, context: str) -> None:
    await api.put("/v1/customers/ann", json={"email": "ann@example.com"})
    answer = await api.post("/v1/customers/ann/messages", **raw('{"id": "m1", "template": "welcome", "context": %s}' % context))  # type: ignore[arg-type]
    assert answer.status_code == 422, answer.text


async def test_a_dead_message_too_large_to_send_again_stays_a_dead_letter(api: httpx.AsyncClient, api_app: object) -> None:
    from tests.journeys.operations.test_dead_letters import dead_message
    from journeys.storage.tables import MessageRow

    db = api_app.state.journeys.db  # type: ignore[attr-defined]
    letter = await dead_message(db, "big1", "failed")
    async with db.session() as session:
        row = await session.get(MessageRow, "big1")
        row.context = {"cart": ["x" * 1000] * 300}  # from before the limit
        session.add(row)
        await session.commit()
    answer = await api.post(f"/v1/dead-letters/{letter}/retry")
    assert answer.status_code == 422 and "cannot be sent again" in answer.json()["detail"][0]["msg"]
    assert [d["id"] for d in (await api.get("/v1/dead-letters")).json()] == [letter], "still listed"

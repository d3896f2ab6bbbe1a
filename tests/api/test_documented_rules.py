"""What schemathesis found where the API and its document disagreed, one case each: the
API now does what the document says (tests/api/test_openapi_truth.py runs the lot)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.api.conftest import API_KEY


def segment(call: dict[str, object]) -> dict[str, object]:
    return {"writeKey": API_KEY, **call}


@pytest.mark.parametrize("timestamp", [1767225600, "1767225600", "2026-01-01", "9999-06-01T00:00:00Z", "1899-12-31T23:00:00Z"])
async def test_a_timestamp_is_a_date_and_time_of_the_years_1900_to_9998(api: httpx.AsyncClient, timestamp: object) -> None:
    answer = await api.post("/v1/events", json={"id": "e1", "type": "a.b", "customer_id": "c", "timestamp": timestamp})
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body", "timestamp"]
    listed = await api.get("/v1/dead-letters", params={"until": str(timestamp)})
    assert listed.status_code == 422 and listed.json()["detail"][0]["loc"] == ["query", "until"]


async def test_the_edges_of_the_years_are_taken_with_any_offset(api: httpx.AsyncClient) -> None:
    events = [
        {"id": "early", "type": "a.b", "customer_id": "c", "timestamp": "1900-01-01T00:00:00+14:00"},
        {"id": "late", "type": "a.b", "customer_id": "c", "timestamp": "9998-12-31T23:59:59-14:00"},
        {"id": "naive", "type": "a.b", "customer_id": "c", "timestamp": "2026-01-01 09:30"},
    ]
    answer = await api.post("/v1/events", json={"events": events})
    assert answer.status_code == 202 and answer.json()["accepted"] == 3


@pytest.mark.parametrize(("user_id", "stored"), [(42, "42"), (42.0, "42"), (-(2**53 - 1), str(-(2**53 - 1)))])
async def test_a_segment_id_may_be_a_whole_number_javascript_holds(api: httpx.AsyncClient, api_app: FastAPI, user_id: object, stored: str) -> None:
    from journeys.storage.tables import EventRow

    answer = await api.post("/v1/track", json=segment({"userId": user_id, "event": "Signed Up", "messageId": "m1"}))
    assert answer.status_code == 200, answer.text
    async with api_app.state.journeys.db.session() as session:
        row = await session.get(EventRow, "m1")
    assert row is not None and row.customer_id == stored


@pytest.mark.parametrize("user_id", [2**53, 1.5, True, {"id": 1}, ["u"]])
async def test_any_other_segment_id_is_refused_by_name(api: httpx.AsyncClient, user_id: object) -> None:
    answer = await api.post("/v1/track", json=segment({"userId": user_id, "event": "Signed Up"}))
    assert answer.status_code == 400 and answer.json()["message"].startswith("body.userId: ")


@pytest.mark.parametrize(("field", "value"), [("groupId", "g\u0000"), ("name", "home\u0000")])
async def test_segment_text_that_lands_in_properties_has_no_nul(api: httpx.AsyncClient, field: str, value: str) -> None:
    call = {"type": "group", "userId": "u", "groupId": "g"} if field == "groupId" else {"type": "page", "userId": "u"}
    answer = await api.post("/v1/batch", json=segment({"batch": [{**call, field: value}]}))
    assert answer.status_code == 400 and "NUL" in answer.json()["message"]


async def test_a_subscription_flag_is_true_or_false_not_a_truthy_value(api: httpx.AsyncClient) -> None:
    await api.put("/v1/customers/ann", json={"email": "ann@example.com"})
    for value in (0, "yes", "false"):
        answer = await api.put("/v1/customers/ann/subscriptions", json={"topics": {"offers": value}})
        assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body", "topics", "offers"]
    assert (await api.get("/v1/customers/ann/subscriptions")).json()["topics"]["offers"] is True, "unchanged"


async def test_an_address_at_a_special_use_name_is_an_address(api: httpx.AsyncClient) -> None:
    for email in ("ann@shop.test", "ops@host.local", "x@in-addr.arpa"):
        answer = await api.put("/v1/customers/ann", json={"email": email})
        assert answer.status_code in (200, 201), answer.text
    assert (await api.post("/v1/suppressions", json={"email": "bob@mail.test"})).status_code in (200, 201)


async def test_an_unknown_customer_has_no_journeys_to_list(api: httpx.AsyncClient) -> None:
    unknown = await api.get("/v1/customers/nobody/journeys")
    assert unknown.status_code == 404 and unknown.json() == {"detail": "no customer with id 'nobody'"}
    # Known by its events alone (no profile yet): its journeys are asked of Temporal,
    # which is away in these tests.
    await api.post("/v1/events", json={"id": "e1", "type": "a.b", "customer_id": "anon-1"})
    assert (await api.get("/v1/customers/anon-1/journeys")).status_code == 503


def test_the_document_names_this_installations_templates_topics_and_zones(api_app: FastAPI) -> None:
    schemas = api_app.openapi()["components"]["schemas"]
    assert schemas["OneOffMessageIn"]["properties"]["template"]["enum"] == ["cart_reminder", "getting_started", "receipt", "welcome"]
    topics = schemas["SubscriptionsIn"]["properties"]["topics"]
    assert sorted(topics["properties"]) == ["offers", "product"] and topics["additionalProperties"] is False
    zones = schemas["CustomerIn"]["properties"]["timezone"]["enum"]
    assert "Europe/Berlin" in zones and "localtime" not in zones
    assert schemas["Customer"]["properties"]["attributes"]["additionalProperties"] == {"$ref": "#/components/schemas/JsonValue"}


def test_errors_are_documented_as_json_and_pages_as_html(api_app: FastAPI) -> None:
    paths = api_app.openapi()["paths"]
    page = paths["/u/{token}"]["get"]["responses"]
    assert list(page["404"]["content"]) == ["text/html"] and list(page["503"]["content"]) == ["application/json"]
    for operations in paths.values():
        for operation in operations.values():
            for status, answer in operation["responses"].items():
                if status == "422":
                    assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/InvalidRequest"}
